// The pipeline's `partitions:` and each reducer's placement (docs/scale-out.md §2). A reducer is `local` when
// its key holds the routing key: all events of one of its keys then carry one routing value, so they are all
// in one partition and its state can live there. Any other key (a roster lookup like `class`, a `document`)
// is `exchange`: its items are re-keyed across partitions (docs/scale-out.md §6, engine/runtime/exchange-routes.ts).
import { canonicalJson } from '../canonical-json.js';
import { partitionOf } from '../partition.js';
import type { CompiledAggregation, CompiledKey, CompiledPartitions, CompiledPipeline, CompiledReducer, Placement } from '../types.js';
import type { Path } from './source-map.js';

/** How many partitions a `partitions:` section without `count` gets. */
export const DEFAULT_PARTITIONS = 64;
const DEFAULT_ROUTING_KEY = 'student';

interface KeyDef {
  key: CompiledKey;
  /** The key's expanded definition (its JSON path for a path key). */
  definition: unknown;
}

type Report = (path: Path, message: string) => void;

/** The `partitions:` section: absent = one partition, routed (for placement) by `student` when the pipeline has it. */
export function compilePartitions(spec: Record<string, any>, keys: ReadonlyMap<string, KeyDef>, err: Report): CompiledPartitions {
  const section = spec.partitions as { count?: number; by?: string } | undefined;
  const count = section === undefined ? 1 : (section.count ?? DEFAULT_PARTITIONS);
  const named = section?.by;
  const by = named ?? DEFAULT_ROUTING_KEY;
  const def = keys.get(by);
  if (!def) {
    if (section === undefined) return { count, by: null };
    const known = [...keys.keys()].join(', ') || 'none';
    err(named === undefined ? ['partitions'] : ['partitions', 'by'], `routing key '${by}'${named === undefined ? ' (the default)' : ''} is not a key of keys: (keys: ${known}); name one with partitions.by`);
    return { count, by: null };
  }
  if (def.key.components.length > 1 || def.key.lookup) {
    err(named === undefined ? ['partitions'] : ['partitions', 'by'], `routing key '${by}' must be a JSON path key: ${def.key.lookup ? 'a roster lookup changes when the roster does, which would move states between partitions' : 'a composite key cannot route (name one of its parts)'}`);
    return { count, by: null };
  }
  const extract = def.key.extract;
  return { count, by, route: extract };
}

/** The partition of a raw event: by its routing value; events without one by `fallback` (a producer id), else 0. */
export function eventPartition(partitions: CompiledPartitions, event: Parameters<NonNullable<CompiledPartitions['route']>>[0], fallback?: string): number {
  if (partitions.count === 1) return 0;
  let value: string | undefined;
  try {
    value = partitions.route?.(event);
  } catch {
    // A key that throws is the reducers' problem (they dead-letter the event with the reason): any partition will do.
    value = undefined;
  }
  if (value === undefined) value = fallback;
  return value === undefined ? 0 : partitionOf(value, partitions.count);
}

/** Items grouped by their event's partition (eventPartition), each group in arrival order. */
export function groupByPartition<T extends { event: Parameters<NonNullable<CompiledPartitions['route']>>[0] }>(partitions: CompiledPartitions, items: readonly T[], fallback?: string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const n = eventPartition(partitions, item.event, fallback);
    const list = groups.get(n);
    if (list) list.push(item);
    else groups.set(n, [item]);
  }
  return groups;
}

/** Whether `key` holds the routing key: it is it (or a path key with the same path), or a composite with such a part. */
function holdsRoutingKey(key: CompiledKey, by: string, keys: ReadonlyMap<string, KeyDef>): boolean {
  const routing = canonicalJson(keys.get(by)!.definition);
  const same = (name: string) => {
    const k = keys.get(name);
    return name === by || (!!k && k.key.components.length === 1 && !k.key.lookup && canonicalJson(k.definition) === routing);
  };
  return key.lookup ? false : key.components.length === 1 ? same(key.name) : key.components.some(same);
}

/**
 * Stamp each reducer's placement. With P > 1 an exchange reducer (not keyed by the routing key) keeps each
 * key's state in that key's partition: its input crosses partitions over an exchange edge (docs/scale-out.md
 * §6; a Redis or memory store runs them, others refuse at start). A routing-keyed reducer reading a stream
 * an exchange reducer emits is `rekey`: those events live in the producer's key's partition, so each goes
 * back over an exchange edge to the partition of its own routing value (the same protocol, the other way).
 */
export function placeReducers(partitions: CompiledPartitions, keys: ReadonlyMap<string, KeyDef>, reducers: CompiledReducer[]): void {
  const by = partitions.by;
  const placement = new Map<string, Placement>();
  for (const r of reducers) placement.set(r.name, by === null || holdsRoutingKey(r.key, by, keys) ? 'local' : 'exchange');
  if (partitions.count > 1) {
    const exchangedStreams = new Set<string>();
    for (const r of reducers) if (placement.get(r.name) === 'exchange') for (const s of [r.emit, r.late]) if (s) exchangedStreams.add(s);
    for (const r of reducers) if (placement.get(r.name) === 'local' && r.from.some((s) => exchangedStreams.has(s))) placement.set(r.name, 'rekey');
  }
  for (const r of reducers) r.placement = placement.get(r.name);
}

/**
 * Warnings (not errors) for P > 1: an exchange reducer whose operator is order-sensitive (no `merge`: last,
 * windows, streak…) sees re-keyed items in an order that depends on timing (docs/scale-out.md §6 "Order").
 */
export function exchangeOrderWarnings(pipeline: CompiledPipeline): string[] {
  const count = pipeline.partitions?.count ?? 1;
  if (count === 1) return [];
  return pipeline.reducers
    .filter((r) => (r.placement === 'exchange' || r.placement === 'rekey') && !r.op.merge)
    .map(
      (r) =>
        `reducer '${r.name}' (${r.op.name}) is ${r.placement === 'exchange' ? `keyed by '${r.key.name}', behind an exchange edge` : `re-keyed back to '${r.key.name}' from what an exchange reducer emits`}, and its operator is order-sensitive: with partitions.count ${count} its results may differ between runs and from a single process (docs/scale-out.md §6 "Order"); commutative operators (count, sum, stats, distinct, histograms) do not`,
    );
}

/**
 * With P > 1 an aggregation's rows must be about the routing key (its member key, e.g. `student`): the engine
 * reads each member's states from that member's partition.
 */
export function checkAggregations(partitions: CompiledPartitions, keys: ReadonlyMap<string, KeyDef>, aggregations: ReadonlyMap<string, CompiledAggregation>, err: Report): void {
  const by = partitions.by;
  if (partitions.count === 1 || by === null) return;
  for (const agg of aggregations.values()) {
    // Columns need no check of their own: a group-keyed reducer (an exchange reducer keyed by the class) is read
    // from the group's partition, and any other key that is neither the member nor the group is refused for
    // every P (it cannot be shown per member).
    const member = keys.get(agg.member);
    if (member && !holdsRoutingKey(member.key, by, keys)) {
      err(['aggregations', agg.name, 'group_by'], `aggregation '${agg.name}' has a row per '${agg.member}', but partitions route by '${by}': with partitions.count ${partitions.count} a ${agg.member}'s states would be spread over partitions; route by '${agg.member}' or use partitions.count: 1`);
    }
  }
}
