// Redis key layout. The pipeline name is a hash tag ({...}) so all of a pipeline's records and its offset
// live in one cluster slot: one MULTI/EXEC commits a batch's states and offset atomically, on a single
// Redis or on a Redis Cluster. The trade-off: one pipeline's state lives on one cluster node.
//
//   lf:{<pipeline>}:s:<reducer>:<version>:<shard key>   a reducer state (JSON)
//   lf:{<pipeline>}:k:<reducer>:<version>:<part>        composite keys with that part (sorted set, score: offset)
//   lf:{<pipeline>}:offset                              the input-log offset committed with those states
//   lf:{<pipeline>}:clock                               the event-time clock committed with them
//   lf:{<pipeline>}:pipeline                            the pipeline that last ran, {file, text} (for plans)
//   lf:{<pipeline>}:outbox                              list: per batch, derived events not yet archived (JSON)
import type { StateRef } from '../types.js';

export const stateKey = (r: StateRef) => `lf:{${r.pipeline}}:s:${r.reducer}:${r.version}:${r.key}`;
export const partIndexKey = (pipeline: string, reducer: string, version: string, part: string) => `lf:{${pipeline}}:k:${reducer}:${version}:${part}`;
export const partIndexPattern = (pipeline: string, reducer: string, version?: string) => `lf:{${pipeline}}:k:${reducer}:${version === undefined ? '' : `${version}:`}*`;
export const offsetKey = (pipeline: string) => `lf:{${pipeline}}:offset`;
export const clockKey = (pipeline: string) => `lf:{${pipeline}}:clock`;
export const pipelineKey = (pipeline: string) => `lf:{${pipeline}}:pipeline`;
export const outboxKey = (pipeline: string) => `lf:{${pipeline}}:outbox`;
export const reducerPattern = (pipeline: string, reducer?: string, version?: string) =>
  `lf:{${pipeline}}:s:${reducer === undefined ? '' : `${reducer}:${version === undefined ? '' : `${version}:`}`}*`;

/** Parse a state key back into its parts (reducer and version names contain no ':'). */
export function parseStateKey(key: string): StateRef | undefined {
  const m = /^lf:\{(.+?)\}:s:([^:]+):([^:]+):(.*)$/s.exec(key);
  return m ? { pipeline: m[1], reducer: m[2], version: m[3], key: m[4] } : undefined;
}
