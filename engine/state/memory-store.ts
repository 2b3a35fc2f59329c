// The embedded default store: states live in this process. Commits are trivially atomic (one synchronous
// update), so the exactly-once argument is the same as for Redis; nothing survives a restart.
// States are filed by pipeline, reducer and version, then by shard key: the per-state index entry is then
// only the shard key (the same string the engine's cache holds), not a ~100-byte composite key per state.
import { namesLearner } from '../erase/match.js';
import type { Commit, Json, LastPipeline, LearnerErasure, StateRef, StateStore, StoreErasureCounts } from '../types.js';
import { MemoryExchange, MemoryExchangeBoard } from './memory-exchange.js';

type Versions = Map<string, Map<string, Json>>;

export class MemoryStateStore implements StateStore {
  readonly kind = 'memory';
  /** pipeline -> reducer -> version -> shard key -> state. */
  private readonly states = new Map<string, Map<string, Versions>>();
  private readonly offsets = new Map<string, number>();
  private readonly last = new Map<string, LastPipeline>();
  /** Exchange edges between this store's partitions (P > 1 in one process). */
  private readonly exchange = new MemoryExchangeBoard();

  private bucket(r: StateRef, create: true): Map<string, Json>;
  private bucket(r: StateRef, create: false): Map<string, Json> | undefined;
  private bucket(r: StateRef, create: boolean): Map<string, Json> | undefined {
    let reducers = this.states.get(r.pipeline);
    if (!reducers) {
      if (!create) return undefined;
      this.states.set(r.pipeline, (reducers = new Map()));
    }
    let versions = reducers.get(r.reducer);
    if (!versions) {
      if (!create) return undefined;
      reducers.set(r.reducer, (versions = new Map()));
    }
    let keys = versions.get(r.version);
    if (!keys && create) versions.set(r.version, (keys = new Map()));
    return keys;
  }

  async load(refs: readonly StateRef[]): Promise<Array<Json | undefined>> {
    return refs.map((r) => this.bucket(r, false)?.get(r.key));
  }

  async commit(commit: Commit): Promise<void> {
    const exchanges = commit.rp !== undefined || commit.forward !== undefined || commit.apply !== undefined;
    if (exchanges) this.exchange.check(commit); // before anything is written: all or nothing
    // States are kept by reference: the engine owns them between commits, so no copy is needed.
    // Writes come grouped by reducer, so the bucket of the previous write is usually the right one.
    let last: StateRef | undefined;
    let keys: Map<string, Json> | undefined;
    for (const [ref, state] of commit.writes) {
      if (!last || ref.reducer !== last.reducer || ref.version !== last.version || ref.pipeline !== last.pipeline) {
        keys = this.bucket(ref, true);
        last = ref;
      }
      keys!.set(ref.key, state);
    }
    this.offsets.set(commit.pipeline, commit.offset);
    if (exchanges) this.exchange.apply(commit);
  }

  /** Exchange edges (docs/scale-out.md §6) between the partitions of one process. */
  exchangeLink(pipeline: string, n: number, count: number): MemoryExchange {
    return new MemoryExchange(this.exchange, pipeline, n, count);
  }

  async offset(pipeline: string): Promise<number> {
    return this.offsets.get(pipeline) ?? 0;
  }

  async *scan(pipeline: string, reducer?: string): AsyncIterable<[StateRef, Json]> {
    for (const [r, versions] of this.states.get(pipeline) ?? []) {
      if (reducer !== undefined && r !== reducer) continue;
      for (const [version, keys] of versions) for (const [key, v] of keys) yield [{ pipeline, reducer: r, version, key }, v];
    }
  }

  async drop(pipeline: string, reducer: string, version?: string): Promise<number> {
    const versions = this.states.get(pipeline)?.get(reducer);
    if (!versions) return 0;
    let n = 0;
    for (const [v, keys] of [...versions]) {
      if (version !== undefined && v !== version) continue;
      n += keys.size;
      versions.delete(v);
    }
    if (versions.size === 0) this.states.get(pipeline)!.delete(reducer);
    return n;
  }

  /**
   * Composite keys with `part` among their parts, by a walk of the reducer version's keys: this store has no
   * index (it is read this way only when a class is first watched, and for a test's starting state). Order:
   * first write first, not last write (the store does not keep write order).
   */
  async keysWithPart(pipeline: string, queries: ReadonlyArray<{ reducer: string; version: string; part: string }>): Promise<string[][]> {
    return queries.map(({ reducer, version, part }) => {
      const out: string[] = [];
      for (const key of this.bucket({ pipeline, reducer, version, key: '' }, false)?.keys() ?? []) {
        if (key.includes('|') && key.split('|').includes(part)) out.push(key);
      }
      return out;
    });
  }

  /** `loflow erase`: the learner's states (key L or a composite key with L), every reducer and version. */
  async eraseLearner(pipeline: string, who: LearnerErasure, dryRun: boolean): Promise<StoreErasureCounts> {
    let states = 0;
    for (const versions of this.states.get(pipeline)?.values() ?? []) {
      for (const keys of versions.values()) {
        for (const key of [...keys.keys()]) {
          if (!namesLearner(key, who.learner)) continue;
          states++;
          if (!dryRun) keys.delete(key);
        }
      }
    }
    return { states, indexEntries: 0, outboxEvents: 0, deadLetters: 0 };
  }

  async versions(pipeline: string): Promise<Array<{ reducer: string; version: string; keys: number }>> {
    const out: Array<{ reducer: string; version: string; keys: number }> = [];
    for (const [reducer, versions] of this.states.get(pipeline) ?? []) for (const [version, keys] of versions) if (keys.size) out.push({ reducer, version, keys: keys.size });
    return out;
  }

  async lastPipeline(pipeline: string): Promise<LastPipeline | undefined> {
    return this.last.get(pipeline);
  }

  async saveLastPipeline(pipeline: string, last: LastPipeline): Promise<void> {
    this.last.set(pipeline, last);
  }

  async close(): Promise<void> {}
}
