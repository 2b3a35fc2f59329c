// The reducer stage: a batch's events through the reducer levels, in log order per key. Per level, the states
// it touches are loaded in ONE store call, then reduced (derived events ordered by origin offset, then
// emission order, feed the next levels). It changes only the cache and the clock: the consumer commits.
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../event-limits.js';
import type { CachedState } from '../aggregate.js';
import type { CompiledPipeline, CompiledReducer, DeadLetter, ForwardItem, InboundItem, LoEvent, LoggedEvent, ReduceContext } from '../types.js';
import type { Counters, RuntimeContext } from './context.js';
import { exchangeSplit, withInbound, type ExchangePlace } from './exchange-routes.js';
import { routeAll, routeIndex, timesOf, type Item, type Route } from './routing.js';
import type { StateCache } from './state-cache.js';

export class Levels {
  /** Reducers by name (rebuilt by a live swap, between batches). */
  readonly byName = new Map<string, CompiledReducer>();
  private readonly levels: CompiledReducer[][] = [];
  /** Per level, each reducer's route index (see routeIndex). */
  private routeIds: number[][] = [];
  /** The pipeline's event-time clock: the highest event time processed (bounded, see reduce). */
  now = 0;
  /** Reduction counter: a cached state's `t` is the seq of its last change. */
  private seq = 0;
  private readonly counters: Counters;
  private skewOf?: { pipeline: CompiledPipeline; ms: number };
  /**
   * With P > 1: why a derived event belongs to another partition (its routing value is another's), else
   * undefined. The compiler places every reducer so this cannot happen unless an operator emits another
   * learner's id; such an event is dead-lettered with the reason, never reduced in the wrong partition.
   */
  away?: (event: LoEvent) => string | undefined;
  /**
   * With P > 1 and exchange reducers (docs/scale-out.md §6): this partition. An exchange reducer reduces only
   * the keys whose partition this is; its other items are forwarded (the batch's commit writes them).
   */
  exchange?: ExchangePlace;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly states: StateCache,
    /** The derived streams the archive takes (ArchiveFeed's set, updated in place by a swap). */
    private readonly archivedDerived: ReadonlySet<string>,
  ) {
    this.counters = ctx.counters;
    this.reconfigure(ctx.pipeline);
  }

  reconfigure(pipeline: CompiledPipeline): void {
    this.levels.length = 0;
    this.byName.clear();
    for (const r of pipeline.reducers) {
      this.byName.set(r.name, r);
      (this.levels[r.level] ??= []).push(r);
    }
    this.routeIds = this.levels.map(routeIndex);
  }

  /** The largest `max_clock_skew` of the pipeline's sources: the clock's bound past arrival (derived events have no source). */
  maxSkew(): number {
    const { pipeline } = this.ctx;
    if (this.skewOf?.pipeline !== pipeline) {
      let ms = 0;
      for (const s of pipeline.sources.values()) ms = Math.max(ms, s.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
      this.skewOf = { pipeline, ms };
    }
    return this.skewOf.ms;
  }

  /**
   * Reduce a batch into the cache: `dirty` gets each reducer's changed keys, `letters` the events that failed.
   * Returns the derived items of the streams the archive takes, by stream.
   */
  async reduce(
    entries: LoggedEvent[],
    dirty: Map<string, Set<string>>,
    letters: DeadLetter[],
    /** Items other partitions re-keyed here (exchange edges), and the offset they get (the batch's end). */
    inbound: { items: InboundItem[]; offset: number } = { items: [], offset: 0 },
    /** Filled with the items for other partitions (exchange edges), without their identity `o`. */
    forward: Array<Omit<ForwardItem, 'o'>> = [],
  ): Promise<Map<string, Item[]>> {
    const wall = Date.now();
    const skew = this.maxSkew();
    const cache = this.states.cache;
    const byReducer = new Map<string, InboundItem[]>();
    for (const it of inbound.items) {
      const list = byReducer.get(it.reducer);
      if (list) list.push(it);
      else byReducer.set(it.reducer, [it]);
    }
    // Streams' pending items for this batch: raw events first, derived ones appended as levels run.
    const pending = new Map<string, Item[]>();
    const first = entries[0]?.stream;
    if (entries.length === 0) {
      // Only re-keyed items (exchange edges): no raw events this batch.
    } else if (entries.every((e) => e.stream === first)) pending.set(first, entries.slice()); // the common case: one copy
    else {
      for (const e of entries) {
        let list = pending.get(e.stream);
        if (!list) pending.set(e.stream, (list = []));
        list.push(e);
      }
    }
    const derivedForArchive = new Map<string, Item[]>();

    for (let l = 0; l < this.levels.length; l++) {
      const level = this.levels[l];
      if (!level) continue;
      // Route: each reducer's (key, item) list in order, and the states to load.
      // cells[d]: the cached state of the route's distinct key d (one Map lookup per key and reducer).
      const routeOf = this.routeIds[l];
      const routes: Array<Route | undefined> = [];
      const routed: Array<{ r: CompiledReducer; route: Route; cells: Array<CachedState | undefined> }> = [];
      const toLoad: Array<{ r: CompiledReducer; key: string }> = [];
      // Each route's input (from its first reducer), then every input list routed in one pass for its routes.
      const byInput = new Map<Item[], number[]>();
      for (let j = 0; j < level.length; j++) {
        const id = routeOf[j];
        if (routeOf.indexOf(id) !== j) continue;
        const input = this.inputOf(level[j], pending);
        if (input.length === 0) continue;
        const ids = byInput.get(input);
        if (ids) ids.push(j);
        else byInput.set(input, [j]);
      }
      for (const [input, js] of byInput) {
        const out = routeAll(js.map((j) => level[j]), input);
        js.forEach((j, x) => (routes[routeOf[j]] = out[x]));
      }
      const ex = this.exchange;
      if (ex) {
        // Exchange (and rekey) reducers keep their keys of this partition; the others' items go to the key's partition.
        for (let j = 0; j < level.length; j++) {
          const id = routeOf[j];
          const route = routes[id];
          const placement = level[j].placement;
          if (route && (placement === 'exchange' || placement === 'rekey') && routeOf.indexOf(id) === j) routes[id] = exchangeSplit(ex, route, level.filter((_, i) => routeOf[i] === id), forward);
        }
      }
      for (let j = 0; j < level.length; j++) {
        const r = level[j];
        const arrived = byReducer.get(r.name);
        const route = arrived ? withInbound(routes[routeOf[j]], arrived, inbound.offset) : routes[routeOf[j]];
        if (!route) continue;
        // A key or map that throws on one event is that event's problem: dead-lettered, never a batch retry.
        for (const f of route.failures) {
          this.counters.failed++;
          letters.push({ stream: r.from.join(','), event: f.event, reason: `${r.name}: key or map failed: ${f.message}`, at: f.at, stage: `reducer:${r.name}` });
        }
        const { items, distinct } = route;
        if (items.length === 0) continue;
        const states = cache.get(r.name)!;
        const cells: Array<CachedState | undefined> = new Array(distinct.length);
        for (let d = 0; d < distinct.length; d++) {
          const cell = states.get(distinct[d]);
          cells[d] = cell;
          if (cell === undefined) toLoad.push({ r, key: distinct[d] });
        }
        routed.push({ r, route, cells });
      }
      if (toLoad.length) await this.states.load(toLoad);

      // States changed earlier in this batch have t > seq0: only their first change is added to `changed`.
      const seq0 = this.seq;
      for (const { r, route, cells } of routed) {
        const { items, distinct, ids } = route;
        const times = timesOf(route, r.time);
        const states = cache.get(r.name)!;
        let changed = dirty.get(r.name);
        if (!changed) dirty.set(r.name, (changed = new Set()));
        const emitted: Item[] | undefined = r.emit ? [] : undefined;
        const late: Item[] | undefined = r.late ? [] : undefined;
        // The item being reduced. The closures read it, not numbers of their own: a number captured by a
        // closure is boxed on every assignment (an allocation per event and reducer).
        let cur = items[0];
        const ctx: { key: string; time: number; emit(e: LoEvent): void; late(e: LoEvent): void } = {
          key: '',
          time: 0,
          emit: (e) => {
            if (!emitted) return;
            r.key.copy?.(cur.event, e);
            // A derived event happens when the event that caused it happened (event time, deterministic).
            if (e.ts === undefined) e.ts = ctx.time;
            emitted.push({ offset: cur.offset, event: e, at: cur.at });
          },
          late: (e) => {
            if (late) late.push({ offset: cur.offset, event: e, at: cur.at });
            else letters.push({ stream: r.from.join(','), event: e, reason: `late event for reducer '${r.name}'`, at: cur.at, stage: `late:${r.name}` });
          },
        };
        for (let i = 0; i < items.length; i++) {
          const it = items[i];
          const id = ids[i];
          const key = distinct[id];
          // A key not cached when routed was loaded (or its init failed) since: looked up once.
          let cached = cells[id];
          if (cached === undefined) cached = cells[id] = states.get(key);
          if (!cached) {
            this.counters.failed++;
            letters.push({ stream: r.from.join(','), event: it.event, reason: `${r.name} (${r.op.name}): init failed: ${this.states.initFailures.get(`${r.name}\0${key}`)}`, at: it.at, stage: `reducer:${r.name}` });
            continue;
          }
          cur = it;
          const time = times[i];
          ctx.key = key;
          ctx.time = time;
          if (time > this.now) {
            // One event moves the clock every view reads (idle, wpm) at most to its arrival (or now) + skew:
            // ingest refuses later times, so this binds only for events logged before that check (or a
            // projected time) and never changes a replay of accepted events.
            const cap = (it.at > wall ? it.at : wall) + skew;
            this.now = time <= cap ? time : Math.max(this.now, cap);
          }
          try {
            cached.s = r.op.reduce(cached.s, it.event, ctx as ReduceContext, r.params);
            if (cached.t <= seq0) changed.add(key);
            cached.t = ++this.seq;
          } catch (err) {
            // One bad event for one reducer: counted, dead-lettered with the reason, the pipeline goes on.
            const error = err instanceof Error ? err.message : String(err);
            this.counters.failed++;
            letters.push({ stream: r.from.join(','), event: it.event, reason: `${r.name} (${r.op.name}): ${error}`, at: it.at, stage: `reducer:${r.name}` });
            this.ctx.events.emit('failure', { reducer: r.name, key, event: it.event, error });
          }
        }
        if (emitted && emitted.length) this.pushDerived(r.emit!, this.here(r, r.emit!, emitted, letters), pending, derivedForArchive);
        if (late && late.length) this.pushDerived(r.late!, this.here(r, r.late!, late, letters), pending, derivedForArchive);
      }
    }
    return derivedForArchive;
  }

  /** The derived items that belong to this partition; the others dead-lettered (see `away`). */
  private here(r: CompiledReducer, stream: string, items: Item[], letters: DeadLetter[]): Item[] {
    const away = this.away;
    // An exchange reducer's events are about its own key: only exchange reducers read them (the compiler's rule).
    if (!away || (this.exchange && r.placement === 'exchange')) return items;
    return items.filter((it) => {
      const reason = away(it.event);
      if (reason === undefined) return true;
      this.counters.failed++;
      letters.push({ stream, event: it.event, reason: `${r.name} emitted ${reason}`, at: it.at, stage: `reducer:${r.name}` });
      return false;
    });
  }

  /** A reducer's input items in deterministic order: by origin offset across its streams. */
  private inputOf(r: CompiledReducer, pending: Map<string, Item[]>): Item[] {
    if (r.from.length === 1) return pending.get(r.from[0]) ?? [];
    const lists = r.from.map((s) => pending.get(s)).filter((l): l is Item[] => !!l && l.length > 0);
    if (lists.length <= 1) return lists[0] ?? [];
    // Stable sort keeps emission order among items of the same origin.
    return lists.flat().sort((a, b) => a.offset - b.offset);
  }

  private pushDerived(stream: string, items: Item[], pending: Map<string, Item[]>, archive: Map<string, Item[]>): void {
    this.counters.emitted += items.length;
    const list = pending.get(stream);
    if (list) {
      // Several producers of one stream: keep the stream ordered by origin.
      for (const it of items) list.push(it);
      list.sort((a, b) => a.offset - b.offset);
    } else pending.set(stream, items.slice());
    if (this.archivedDerived.has(stream)) {
      const a = archive.get(stream) ?? [];
      for (const it of items) a.push(it);
      archive.set(stream, a);
    }
    if (this.ctx.events.listenerCount('emit') > 0) for (const it of items) this.ctx.events.emit('emit', stream, it.event);
  }
}
