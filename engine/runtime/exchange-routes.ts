// Exchange edges in a level's routing (docs/scale-out.md §6): an exchange reducer's state for key K lives in
// partition(K), and a `rekey` reducer's in the partition of K's routing value, so a route keeps only the keys
// of this partition and hands the other items to the batch's forwards (committed into fwd with the batch);
// items other partitions forwarded here join the reducer's route after its local items. Pure functions of
// their arguments, like routing.ts.
import { partitionOf } from '../partition.js';
import type { CompiledReducer, ForwardItem, InboundItem, LoEvent } from '../types.js';
import type { Item, Route } from './routing.js';

/** This partition, how many the pipeline has, and an event's routing value (for `rekey` reducers). */
export interface ExchangePlace {
  n: number;
  count: number;
  route?: (event: LoEvent) => string | undefined;
}

/**
 * Where each of a route's keys lives: an exchange reducer's key in its own partition; a `rekey` reducer's key
 * (it holds the routing key, maybe as a part of a composite) in the partition of its items' routing value.
 */
function targets(place: ExchangePlace, route: Route, rekey: boolean): number[] {
  if (!rekey) return route.distinct.map((k) => partitionOf(k, place.count));
  const out = new Array<number>(route.distinct.length).fill(-1);
  for (let i = 0; i < route.items.length; i++) {
    const id = route.ids[i];
    if (out[id] >= 0) continue;
    let value: string | undefined;
    try {
      value = place.route?.(route.items[i].event);
    } catch {
      value = undefined;
    }
    // No routing value: the key (which holds it) could not be read either; left here, as routing.ts would.
    out[id] = value === undefined ? place.n : partitionOf(value, place.count);
  }
  return out;
}

function build(items: Item[], keys: string[], failures: Route['failures']): Route {
  const distinct: string[] = [];
  const index = new Map<string, number>();
  const ids = new Int32Array(items.length);
  for (let i = 0; i < items.length; i++) {
    let id = index.get(keys[i]);
    if (id === undefined) index.set(keys[i], (id = distinct.push(keys[i]) - 1));
    ids[i] = id;
  }
  return { items, distinct, ids, failures };
}

/**
 * The route's items whose key is this partition's; each other item is forwarded once per reducer sharing the
 * route (each reducer's state of that key is in the target). The route is returned as is when all are local.
 */
export function exchangeSplit(place: ExchangePlace, route: Route, sharing: CompiledReducer[], forward: Array<Omit<ForwardItem, 'o'>>): Route {
  const target = targets(place, route, sharing[0]?.placement === 'rekey');
  if (target.every((p) => p === place.n)) return route;
  const items: Item[] = [];
  const keys: string[] = [];
  for (let i = 0; i < route.items.length; i++) {
    const id = route.ids[i];
    const key = route.distinct[id];
    const it = route.items[i];
    if (target[id] === place.n) {
      items.push(it);
      keys.push(key);
    } else for (const r of sharing) forward.push({ to: target[id], reducer: r.name, key, event: it.event, at: it.at });
  }
  return build(items, keys, route.failures);
}

/** A reducer's own route: its local items (if any), then the items re-keyed to it here, at `offset` (the batch's end). */
export function withInbound(route: Route | undefined, arrived: InboundItem[], offset: number): Route {
  const items = route ? route.items.slice() : [];
  const keys = route ? Array.from(route.ids, (id) => route.distinct[id]) : [];
  for (const a of arrived) {
    items.push({ offset, event: a.event, at: a.at });
    keys.push(a.key);
  }
  return build(items, keys, route?.failures ?? []);
}
