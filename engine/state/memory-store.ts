// The embedded default store: states live in this process. Commits are trivially atomic (one synchronous
// update), so the exactly-once argument is the same as for Redis; nothing survives a restart.
import type { Commit, Json, LastPipeline, StateRef, StateStore } from '../types.js';

const SEP = '\u0000';
const refKey = (r: StateRef) => r.pipeline + SEP + r.reducer + SEP + r.version + SEP + r.key;

export class MemoryStateStore implements StateStore {
  readonly kind = 'memory';
  private readonly states = new Map<string, Json>();
  private readonly offsets = new Map<string, number>();
  private readonly last = new Map<string, LastPipeline>();

  async load(refs: readonly StateRef[]): Promise<Array<Json | undefined>> {
    return refs.map((r) => this.states.get(refKey(r)));
  }

  async commit(commit: Commit): Promise<void> {
    // States are kept by reference: the engine owns them between commits, so no copy is needed.
    for (const [ref, state] of commit.writes) this.states.set(refKey(ref), state);
    this.offsets.set(commit.pipeline, commit.offset);
  }

  async offset(pipeline: string): Promise<number> {
    return this.offsets.get(pipeline) ?? 0;
  }

  async *scan(pipeline: string, reducer?: string): AsyncIterable<[StateRef, Json]> {
    for (const [k, v] of this.states) {
      const [p, r, version, key] = k.split(SEP);
      if (p === pipeline && (reducer === undefined || r === reducer)) yield [{ pipeline: p, reducer: r, version, key }, v];
    }
  }

  async drop(pipeline: string, reducer: string, version?: string): Promise<number> {
    let n = 0;
    const prefix = pipeline + SEP + reducer + SEP + (version === undefined ? '' : version + SEP);
    for (const k of [...this.states.keys()]) if (k.startsWith(prefix) && this.states.delete(k)) n++;
    return n;
  }

  async versions(pipeline: string): Promise<Array<{ reducer: string; version: string; keys: number }>> {
    const counts = new Map<string, { reducer: string; version: string; keys: number }>();
    for (const k of this.states.keys()) {
      const [p, reducer, version] = k.split(SEP);
      if (p !== pipeline) continue;
      const id = reducer + SEP + version;
      const row = counts.get(id) ?? { reducer, version, keys: 0 };
      row.keys++;
      counts.set(id, row);
    }
    return [...counts.values()];
  }

  async lastPipeline(pipeline: string): Promise<LastPipeline | undefined> {
    return this.last.get(pipeline);
  }

  async saveLastPipeline(pipeline: string, last: LastPipeline): Promise<void> {
    this.last.set(pipeline, last);
  }

  async close(): Promise<void> {}
}
