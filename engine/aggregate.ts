// Aggregations: per-group (class) tables of member (student) rows built from reducer views, plus summaries.
// Kept apart from the runtime so the runtime stays about ordering and state I/O.
import type { CompiledAggregation, CompiledPipeline, CompiledReducer, Json } from './types.js';

/** One state in the engine's cache: the state and the sequence number of its last update. */
export interface CachedState {
  s: any;
  t: number;
}

export interface AggregateResult {
  aggregation: string;
  group: string;
  rows: Array<{ member: string } & Record<string, Json>>;
  summary: Record<string, Json>;
  /** Members with state that no roster group knows (their data is kept but shown on no dashboard). */
  unknownMembers: number;
}

/** How a reducer's shard key relates to an aggregation's rows. */
type Relation =
  | { kind: 'member' } // keyed by the member itself (student)
  | { kind: 'composite'; index: number } // member is component `index` of a composite key (student|document)
  | { kind: 'group' } // keyed by the group (class): the same value in every row
  | { kind: 'none' };

export function relationOf(reducer: CompiledReducer, agg: CompiledAggregation): Relation {
  if (reducer.key.name === agg.member) return { kind: 'member' };
  if (reducer.key.name === agg.groupBy.name) return { kind: 'group' };
  const index = reducer.key.components.indexOf(agg.member);
  if (index >= 0 && reducer.key.components.length > 1) return { kind: 'composite', index };
  return { kind: 'none' };
}

/** The member a state key belongs to, for the reducer's relation to an aggregation (undefined: none). */
export function memberOfKey(rel: Relation, key: string): string | undefined {
  if (rel.kind === 'member') return key;
  if (rel.kind === 'composite') return key.split('|')[rel.index];
  return undefined;
}

function pick(view: Json | undefined, field: string[]): Json | undefined {
  let v: any = view;
  for (const f of field) {
    // Own fields only: a column `r.constructor` must not show Object's constructor.
    if (v == null || typeof v !== 'object' || !Object.hasOwn(v, f)) return undefined;
    v = v[f];
  }
  return v;
}

export interface StateSource {
  cache: Map<string, Map<string, CachedState>>;
  /** For composite-keyed reducers: member -> the full keys of that member's states. */
  memberIndex(reducer: string, agg: string): Map<string, readonly string[]> | undefined;
  now: number;
  /** With P > 1: the source holding one member's states (its partition's). Absent: this one holds all. */
  forMember?(member: string): StateSource;
  /** With P > 1: the source holding a group's own states (group-keyed reducers: its partition's). */
  forGroup?(group: string): StateSource;
}

/** Build the table of one group. */
export function aggregateGroup(
  pipeline: CompiledPipeline,
  agg: CompiledAggregation,
  group: string,
  src: StateSource,
  unknownMembers: number,
): AggregateResult {
  const roster = agg.groupBy.lookup?.roster;
  const members = roster ? roster.members(group) : [];
  const reducers = new Map(pipeline.reducers.map((r) => [r.name, r]));
  // Several columns often read one reducer's view (active_ms and idle from time_on_task): each view is
  // computed once per member; slot[i] is the index of column i's reducer in `used`.
  const used = [...new Set(agg.columns.map((c) => c.reducer))].map((name) => reducers.get(name)!);
  const slot = agg.columns.map((c) => used.findIndex((r) => r.name === c.reducer));
  const views: Array<Json | undefined> = new Array(used.length);
  const rows: AggregateResult['rows'] = [];
  const groupSrc = src.forGroup ? src.forGroup(group) : src;
  for (const member of members) {
    const row: { member: string } & Record<string, Json> = { member };
    const from = src.forMember ? src.forMember(member) : src;
    for (let i = 0; i < used.length; i++) views[i] = memberView(used[i], agg, member, group, from, groupSrc);
    for (let i = 0; i < agg.columns.length; i++) {
      const col = agg.columns[i];
      const value = pick(views[slot[i]], col.field);
      if (value !== undefined) row[col.name] = value;
    }
    rows.push(row);
  }
  const summary: Record<string, Json> = {};
  for (const s of agg.summary) {
    const chosen = s.where ? rows.filter((row) => safeTest(s.where!, row)) : rows;
    const values: Json[] = [];
    for (const row of chosen) {
      if (s.of === undefined) values.push(row);
      else if (row[s.of] !== undefined) values.push(row[s.of]);
    }
    summary[s.name] = s.aggregator.aggregate(values, s.params);
  }
  return { aggregation: agg.name, group, rows, summary, unknownMembers };
}

function safeTest(where: (row: Record<string, Json>) => boolean, row: Record<string, Json>): boolean {
  try {
    return where(row);
  } catch {
    return false;
  }
}

function memberView(
  r: CompiledReducer,
  agg: CompiledAggregation,
  member: string,
  group: string,
  src: StateSource,
  groupSrc: StateSource,
): Json | undefined {
  const states = src.cache.get(r.name);
  if (!states) return undefined;
  const rel = relationOf(r, agg);
  const view = (s: any): Json => (r.op.view ? r.op.view(s, r.params, src.now) : (s as Json));
  switch (rel.kind) {
    case 'member': {
      const c = states.get(member);
      return c ? view(c.s) : undefined;
    }
    case 'group': {
      const c = groupSrc.cache.get(r.name)?.get(group);
      return c ? view(c.s) : undefined;
    }
    case 'composite': {
      const keys = src.memberIndex(r.name, agg.name)?.get(member);
      if (!keys || keys.length === 0) return undefined;
      const cached = keys.map((k) => states.get(k)).filter((c): c is CachedState => c !== undefined);
      if (cached.length === 0) return undefined;
      if (r.op.merge) {
        // Merge into a fresh state so the per-key states stay untouched.
        let acc = r.op.init(r.params);
        for (const c of cached) acc = r.op.merge(acc, structuredClone(c.s), r.params);
        return view(acc);
      }
      let latest = cached[0];
      for (const c of cached) if (c.t > latest.t) latest = c;
      return view(latest.s);
    }
    default:
      return undefined;
  }
}
