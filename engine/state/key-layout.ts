// Redis key layout 2 (docs/scale-out.md §3). A partition's hash tag T ({<pipeline>} with one partition, as
// before; {<pipeline>:p<N>} with more) puts all of its records in one cluster slot, so one script (commit.lua)
// commits a batch's states, cursor, clock, outbox and dead letters atomically, on a single Redis or a Redis
// Cluster. With one partition the state, index, outbox and pipeline keys keep their layout-1 names.
//
//   lf:T:s:<reducer>:<version>:<shard key>   a reducer state (JSON)
//   lf:T:k:<reducer>:<version>:<part>        composite keys with that part (sorted set, score: offset)
//   lf:T:cur                                 hash: in (committed offset), clock, end (last appended seq), at (last commit, ms, Redis TIME)
//   lf:T:lease                               hash: owner, token (the fence), epoch, until (ms, Redis TIME)
//   lf:T:in                                  stream: the input log with --checkpoint redis, ids 0-<offset + 1>
//   lf:T:prod                                hash: producer -> highest sequence appended
//   lf:T:outbox                              list: per batch, derived events not yet archived (JSON)
//   lf:T:dl                                  stream: dead letters committed with their batch
//   lf:T:fwd, lf:T:rp:<M>                    streams: exchange edges, items to other partitions / from p<M> (§6)
//   lf:{<pipeline>}:pipeline                 the pipeline that last ran, {file, text} (for plans)
//   lf:{<pipeline>}:meta                     hash: layout (2); P, by, hash once a partitioned pipeline ran
//   lf:{<pipeline>}:members                  zset: worker id -> heartbeat expiry (ms, Redis TIME)
//   lf:{<pipeline>}:worker:<id>              hash (PX): host, pid, started, partitions held
// Layout 1 kept the cursor in lf:{<pipeline>}:offset and :clock (strings): moved into cur by migrate.lua.
import type { StateRef } from '../types.js';

export const stateKey = (r: StateRef) => `lf:{${r.pipeline}}:s:${r.reducer}:${r.version}:${r.key}`;
export const partIndexKey = (pipeline: string, reducer: string, version: string, part: string) => `lf:{${pipeline}}:k:${reducer}:${version}:${part}`;
export const partIndexPattern = (pipeline: string, reducer: string, version?: string) => `lf:{${pipeline}}:k:${reducer}:${version === undefined ? '' : `${version}:`}*`;
/** Layout 1's cursor keys, read only to migrate a store written before layout 2. */
export const legacyOffsetKey = (pipeline: string) => `lf:{${pipeline}}:offset`;
export const legacyClockKey = (pipeline: string) => `lf:{${pipeline}}:clock`;
/** The hash tag of partition `n` of `count`: one partition keeps the pipeline's own tag (layout 1's keys). */
export const partitionTag = (pipeline: string, n = 0, count = 1) => (count === 1 ? pipeline : `${pipeline}:p${n}`);
export const curKey = (tag: string) => `lf:{${tag}}:cur`;
export const leaseKey = (tag: string) => `lf:{${tag}}:lease`;
export const inKey = (tag: string) => `lf:{${tag}}:in`;
export const prodKey = (tag: string) => `lf:{${tag}}:prod`;
export const dlKey = (tag: string) => `lf:{${tag}}:dl`;
/** Per commit, the keys it changed (dashboard nodes, docs/scale-out.md §7). */
/** A partition's published archive part: `head` (CID), `through` (JSON stream -> offset). */
export const archKey = (tag: string) => `lf:{${tag}}:arch`;
/** The newest global archive commit (the folder's HEAD too). */
export const archHeadKey = (pipeline: string) => `lf:{${pipeline}}:head`;
export const chgKey = (tag: string) => `lf:{${tag}}:chg`;
/** Exchange edges (docs/scale-out.md §6): items for other partitions, and those re-keyed here from partition M. */
export const fwdKey = (tag: string) => `lf:{${tag}}:fwd`;
export const rpKey = (tag: string, source: number) => `lf:{${tag}}:rp:${source}`;
export const metaKey = (pipeline: string) => `lf:{${pipeline}}:meta`;
/** Workers of a pipeline: zset id -> heartbeat expiry (ms, Redis TIME), and each one's record (hash, PX). */
export const membersKey = (pipeline: string) => `lf:{${pipeline}}:members`;
export const workerKey = (pipeline: string, id: string) => `lf:{${pipeline}}:worker:${id}`;
export const pipelineKey = (pipeline: string) => `lf:{${pipeline}}:pipeline`;
export const outboxKey = (pipeline: string) => `lf:{${pipeline}}:outbox`;
export const reducerPattern = (pipeline: string, reducer?: string, version?: string) =>
  `lf:{${pipeline}}:s:${reducer === undefined ? '' : `${reducer}:${version === undefined ? '' : `${version}:`}`}*`;

/** Parse a state key back into its parts (reducer and version names contain no ':'). */
export function parseStateKey(key: string): StateRef | undefined {
  const m = /^lf:\{(.+?)\}:s:([^:]+):([^:]+):(.*)$/s.exec(key);
  return m ? { pipeline: m[1], reducer: m[2], version: m[3], key: m[4] } : undefined;
}
