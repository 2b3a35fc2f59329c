// What the compiler's section checks share: the spec being compiled, where errors go, and what earlier
// sections built for later ones (keys; the event-time fields ingest checks per source).
import type { CompiledKey, LoEvent } from '../types.js';
import type { Path } from './source-map.js';

export interface KeyInfo {
  key: CompiledKey;
  /** The definition as written, expanded (paths of components), for versions. */
  definition: unknown;
  /** JSON paths the key reads from an event. */
  paths: string[];
}

export interface CompileCtx {
  readonly spec: Record<string, any>;
  /** Where relative files (rosters, schemas, custom operators) are found: the pipeline file's folder. */
  readonly baseDir: string;
  err(path: Path, message: string, opts?: { key?: boolean; inner?: number; hint?: string }): void;
  /** Keys by name: compiled by keys.ts, read by reducers, partitions and aggregations. */
  readonly keys: Map<string, KeyInfo>;
  /** Per source, the event-time fields ingest checks: `ts`, and the `time:` paths of reducers reading it. */
  readonly timeFields: Map<string, Array<{ field: string; get: (e: LoEvent) => unknown }>>;
  /** Per `time:` path, the one event-time function of the reducers that name it (see reducers.ts). */
  readonly timeFns: Map<string, (e: LoEvent) => number | undefined>;
}

/** The default event time (`ts`): one function for all reducers, so the runtime computes it once per route. */
export const eventTs = (e: LoEvent): number | undefined => (typeof e.ts === 'number' ? e.ts : undefined);

/**
 * Whether a section of the spec (`keys:`, `aggregations:`) defines a name. Own names only: `in` and
 * `obj[name]` also find Object.prototype's members, so `aggregation: toString` passed as defined and the
 * dashboard silently vanished.
 */
export function hasName(section: unknown, name: unknown): boolean {
  return typeof name === 'string' && section != null && typeof section === 'object' && Object.hasOwn(section, name);
}
