// Routing a level's input to its reducers: pure functions of the reducers and the items (no engine state),
// called once per level and batch. The per-event work lives in routeAll and timesOf.
import type { CompiledKey, CompiledReducer, LoEvent } from '../types.js';

/**
 * An event waiting for its consumers. `offset` is the raw event's own log offset, or for a derived event the
 * offset of the raw event it came from: so a raw LoggedEvent is its own item (no copy per event).
 */
export interface Item {
  offset: number;
  event: LoEvent;
  at: number;
}

/** One routing of a level's input: the items that pass a `where`, with their keys, and the events whose key or map threw. */
export interface Route {
  items: Item[];
  /** The distinct keys of the items, in order of first appearance. */
  distinct: string[];
  /** ids[i]: the index in `distinct` of items[i]'s key (so reducers look states up per key, not per event). */
  ids: Int32Array;
  failures: Array<{ event: LoEvent; at: number; message: string }>;
  /** Per event-time function of its reducers, each item's time (see timesOf). */
  times?: Map<CompiledReducer['time'], Float64Array>;
}

/**
 * Each item's event time for a reducer, or its arrival time when the event has none: computed once per route
 * and time function (reducers sharing a route usually share the default one), kept unboxed.
 */
export function timesOf(route: Route, time: CompiledReducer['time']): Float64Array {
  let times = route.times?.get(time);
  if (!times) {
    const { items } = route;
    times = new Float64Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const t = time(items[i].event);
      times[i] = typeof t === 'number' && Number.isFinite(t) ? t : items[i].at;
    }
    (route.times ??= new Map()).set(time, times);
  }
  return times;
}

/**
 * Per reducer of a level, the index of its route: reducers reading the same streams with the same `where`,
 * key and map (the compiler shares equal filters) route the batch once. Level-local, like routing itself.
 */
export function routeIndex(level: CompiledReducer[]): number[] {
  const firsts: CompiledReducer[] = [];
  return level.map((r) => {
    // A map makes a new event per reducer (an operator could change it): such reducers route alone.
    let i = r.map ? -1 : firsts.findIndex((f) => !f.map && f.where === r.where && f.key === r.key && f.from.length === r.from.length && f.from.every((s, j) => s === r.from[j]));
    if (i < 0) i = firsts.push(r) - 1;
    return i;
  });
}

/**
 * Route one input list for several routes (given by a reducer of each) in one pass: each route's items that
 * its `where` passes and that have a key, mapped when it has a map. One pass touches an event while it is in
 * the CPU cache, and routes with the same key extract it once per event (keys are pure functions of the event).
 */
export function routeAll(rs: CompiledReducer[], input: Item[]): Route[] {
  // Sized for the whole input and cut to length at the end: no regrowth while filling.
  const routes: Route[] = rs.map(() => ({ items: new Array(input.length), distinct: [], ids: new Int32Array(input.length), failures: [] }));
  const indexes = rs.map(() => new Map<string, number>());
  const counts = new Int32Array(rs.length);
  const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
  for (let i = 0; i < input.length; i++) {
    const it = input[i];
    let keyOf: CompiledKey | undefined; // the key function `k` (or `error`) was computed with, for this event
    let k: string | undefined;
    let error: unknown;
    let failed = false;
    for (let j = 0; j < rs.length; j++) {
      const { where, key, map } = rs[j];
      const route = routes[j];
      let ev = it.event;
      if (where) {
        let pass: boolean;
        try {
          pass = where(ev);
        } catch {
          pass = false;
        }
        if (!pass) continue;
      }
      if (key !== keyOf) {
        keyOf = key;
        failed = false;
        try {
          k = key.extract(ev);
        } catch (err) {
          failed = true;
          error = err;
        }
      }
      if (failed) {
        route.failures.push({ event: it.event, at: it.at, message: message(error) });
        continue;
      }
      if (k === undefined) continue;
      if (map) {
        try {
          ev = map(ev);
        } catch (err) {
          route.failures.push({ event: it.event, at: it.at, message: message(err) });
          continue;
        }
      }
      const index = indexes[j];
      let id = index.get(k);
      if (id === undefined) index.set(k, (id = route.distinct.push(k) - 1));
      const n = counts[j]++;
      route.items[n] = ev === it.event ? it : { offset: it.offset, event: ev, at: it.at };
      route.ids[n] = id;
    }
  }
  routes.forEach((route, j) => (route.items.length = counts[j]));
  return routes;
}
