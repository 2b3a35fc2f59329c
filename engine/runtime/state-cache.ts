// The keyed state cache: the engine's working set (reducer -> key -> state), filled by batches (load on
// first touch, init when the store has nothing) and by dashboards (ensureLoaded's read-through of a class).
// The store is written per batch by the consumer; nothing here writes it.
import { memberOfKey, relationOf, type CachedState } from '../aggregate.js';
import { namesLearner } from '../erase/match.js';
import type { CompiledPipeline, CompiledReducer } from '../types.js';
import type { RuntimeContext } from './context.js';

type Warm = {
  plain: Array<{ r: CompiledReducer; states: Map<string, CachedState>; key: string }>;
  composite: Array<{ r: CompiledReducer; states: Map<string, CachedState>; member: string; rel: { kind: 'composite'; index: number } }>;
};

export class StateCache {
  /** reducer -> shard key -> state. The engine's working set; the store is written per batch. */
  readonly cache = new Map<string, Map<string, CachedState>>();
  /** `${reducer}\0${aggregation}` -> member -> full keys (composite-keyed reducers only). Arrays, not Sets: a
   * member has a few keys (documents), and a Set per member costs ~150 bytes more. */
  readonly memberIdx = new Map<string, Map<string, string[]>>();
  /** Why an operator's init threw, by reducer and key (kept small: only failing keys are here). */
  readonly initFailures = new Map<string, string>();
  /** Per reducer working set: keys read from the store and found absent, and composite members (`\0index\0member`)
   * whose keys were all read. A WeakMap on the working set: a reducer a swap removes and adds back starts afresh. */
  private warmed = new WeakMap<Map<string, CachedState>, Set<string>>();
  /** With P > 1: whether a member's states are this partition's (a dashboard's class spans partitions). */
  owns?: (member: string) => boolean;

  constructor(private readonly ctx: RuntimeContext) {
    for (const r of ctx.pipeline.reducers) this.cache.set(r.name, new Map());
  }

  /** A batch's states its cache lacks, in ONE store call; a key whose init throws gets no state (see initFailures). */
  async load(toLoad: Array<{ r: CompiledReducer; key: string }>): Promise<void> {
    const refs = toLoad.map(({ r, key }) => ({ pipeline: this.ctx.storeName, reducer: r.name, version: r.version, key }));
    const loaded = await this.ctx.store.load(refs);
    for (let i = 0; i < toLoad.length; i++) {
      const { r, key } = toLoad[i];
      let s = loaded[i];
      if (s === undefined) {
        try {
          s = r.op.init(r.params);
        } catch (err) {
          // No state for this key: its events are dead-lettered with this reason (see the reduce loop).
          this.initFailures.set(`${r.name}\0${key}`, err instanceof Error ? err.message : String(err));
          continue;
        }
      }
      this.cache.get(r.name)!.set(key, { s, t: 0 });
      this.indexMember(r, key);
    }
  }

  /** Record a composite key under its member (dashboards find a student's documents). */
  indexMember(r: CompiledReducer, key: string): void {
    for (const agg of this.ctx.pipeline.aggregations.values()) {
      const rel = relationOf(r, agg);
      if (rel.kind !== 'composite') continue;
      const member = memberOfKey(rel, key)!;
      const id = r.name + '\0' + agg.name;
      let idx = this.memberIdx.get(id);
      if (!idx) this.memberIdx.set(id, (idx = new Map()));
      const keys = idx.get(member);
      if (!keys) idx.set(member, [key]);
      else if (!keys.includes(key)) keys.push(key);
    }
  }

  /**
   * `loflow erase`: the learner's states leave the working set (key L, composite keys with L), with their
   * member-index entries. Returns the keys removed (or, dry, that would be), by reducer.
   */
  eraseLearner(learner: string, dryRun: boolean): Map<string, Set<string>> {
    const gone = new Map<string, Set<string>>();
    for (const [name, states] of this.cache) {
      for (const key of states.keys()) {
        if (!namesLearner(key, learner)) continue;
        let s = gone.get(name);
        if (!s) gone.set(name, (s = new Set()));
        s.add(key);
      }
    }
    if (dryRun) return gone;
    for (const [name, keys] of gone) {
      const states = this.cache.get(name)!;
      for (const k of keys) states.delete(k);
    }
    for (const idx of this.memberIdx.values()) {
      idx.delete(learner);
      for (const [m, keys] of idx) {
        const kept = keys.filter((k) => !namesLearner(k, learner));
        if (kept.length !== keys.length) idx.set(m, kept);
      }
    }
    return gone;
  }

  /** A failed batch's changes: dropped, so its retry starts from the committed states (reloaded from the store). */
  forget(dirty: Map<string, Set<string>>): void {
    for (const [name, keys] of dirty) {
      const states = this.cache.get(name)!;
      for (const k of keys) states.delete(k);
    }
  }

  /** A live swap (ctx.pipeline is already `next`): added reducers start empty, removed ones are dropped. */
  reconfigure(next: CompiledPipeline, byName: Map<string, CompiledReducer>): void {
    for (const r of next.reducers) if (!this.cache.has(r.name)) this.cache.set(r.name, new Map());
    for (const name of [...this.cache.keys()]) if (!byName.has(name)) this.cache.delete(name);
    // Aggregations may have changed: index the cached keys of composite-keyed reducers afresh.
    this.memberIdx.clear();
    for (const r of next.reducers) for (const key of this.cache.get(r.name)!.keys()) this.indexMember(r, key);
  }

  private warmedOf(states: Map<string, CachedState>): Set<string> {
    let w = this.warmed.get(states);
    if (!w) this.warmed.set(states, (w = new Set()));
    return w;
  }

  /** Forget which keys were read and found absent (a dashboard node re-reading a partition after a gap). */
  forgetWarmed(): void {
    this.warmed = new WeakMap();
  }

  /** What ensureLoaded would read for a group; undefined when nothing. */
  toWarm(aggregation: string, group: string, byName: Map<string, CompiledReducer>): Warm | undefined {
    const agg = this.ctx.pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    const all = agg.groupBy.lookup?.roster.members(group) ?? [];
    const members = this.owns ? all.filter(this.owns) : all;
    const plain: Warm['plain'] = [];
    const composite: Warm['composite'] = [];
    for (const name of new Set(agg.columns.map((c) => c.reducer))) {
      const r = byName.get(name);
      const states = this.cache.get(name);
      if (!r || !states) continue;
      const rel = relationOf(r, agg);
      const warmed = this.warmed.get(states);
      if (rel.kind === 'member' || rel.kind === 'group') {
        for (const key of rel.kind === 'member' ? members : [group]) if (!states.has(key) && !warmed?.has(key)) plain.push({ r, states, key });
      } else if (rel.kind === 'composite' && this.ctx.store.keysWithPart) {
        for (const member of members) if (!warmed?.has(`\0${rel.index}\0${member}`)) composite.push({ r, states, member, rel });
      }
    }
    return plain.length || composite.length ? { plain, composite } : undefined;
  }

  /** ensureLoaded's read, under the batch lock (see QuerySide.ensureLoaded). */
  async warm(aggregation: string, group: string, byName: Map<string, CompiledReducer>): Promise<void> {
    const { store } = this.ctx;
    const pipeline = this.ctx.storeName;
    const want = this.toWarm(aggregation, group, byName);
    if (!want) return;
    const loads: Array<{ r: CompiledReducer; states: Map<string, CachedState>; key: string; t: number }> = [];
    if (want.composite.length) {
      const lists = await store.keysWithPart!(pipeline, want.composite.map(({ r, member }) => ({ reducer: r.name, version: r.version, part: member })));
      want.composite.forEach(({ r, states, member, rel }, i) => {
        // Oldest write first: the newest gets the highest t, as before the restart (a non-mergeable
        // reducer shows a member's latest key); all stay below the t of anything reduced since.
        const keys = lists[i].filter((k) => memberOfKey(rel, k) === member);
        keys.forEach((key, j) => states.has(key) || loads.push({ r, states, key, t: j - keys.length }));
      });
    }
    for (const p of want.plain) loads.push({ ...p, t: 0 });
    const loaded = await store.load(loads.map(({ r, key }) => ({ pipeline, reducer: r.name, version: r.version, key })));
    const live = (l: { r: CompiledReducer; states: Map<string, CachedState> }) => this.cache.get(l.r.name) === l.states;
    loads.forEach((l, i) => {
      // A swap during the read may have removed the reducer (its working set is gone): skip it.
      if (!live(l) || l.states.has(l.key)) return;
      if (loaded[i] !== undefined) {
        l.states.set(l.key, { s: loaded[i], t: l.t });
        this.indexMember(l.r, l.key);
      } else if (l.t === 0) this.warmedOf(l.states).add(l.key); // nothing stored: not asked again
    });
    for (const c of want.composite) if (live(c)) this.warmedOf(c.states).add(`\0${c.rel.index}\0${c.member}`);
  }
}
