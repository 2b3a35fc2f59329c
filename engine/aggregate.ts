// Aggregations: per-group (class) tables of member (student) rows built from reducer views, plus summaries.
// Kept apart from the runtime so the runtime stays about ordering and state I/O.
import type { CompiledAggregation, CompiledPipeline, CompiledReducer, Json } from './types.js';

/** One state in the engine's cache: the state and the sequence number of its last update. */
export interface CachedState {
  s: any;
  t: number;
  /** On a composite member's first state: the view of the member's states merged (see mergedView). */
  mm?: MergedMemo;
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

/** Per aggregation, what its tables need from the pipeline: worked out once, not once per push. */
interface Shape {
  /** The reducers the columns read, each once (several columns often read one view: active_ms and idle). */
  used: CompiledReducer[];
  rels: Relation[];
  /** slot[i]: the index in `used` of column i's reducer. */
  slot: number[];
}
const shapes = new WeakMap<CompiledAggregation, Shape>();

function shapeOf(pipeline: CompiledPipeline, agg: CompiledAggregation): Shape {
  let shape = shapes.get(agg);
  if (!shape) {
    const reducers = new Map(pipeline.reducers.map((r) => [r.name, r]));
    const used = [...new Set(agg.columns.map((c) => c.reducer))].map((name) => reducers.get(name)!);
    shape = { used, rels: used.map((r) => relationOf(r, agg)), slot: agg.columns.map((c) => used.findIndex((r) => r.name === c.reducer)) };
    shapes.set(agg, shape);
  }
  return shape;
}

/** One reducer's states in one source, and its member index (composite keys), looked up once per table. */
interface Lookup {
  states: Map<string, CachedState> | undefined;
  index: Map<string, readonly string[]> | undefined;
}

const lookupsOf = (shape: Shape, agg: CompiledAggregation, src: StateSource): Lookup[] =>
  shape.used.map((r, i) => ({ states: src.cache.get(r.name), index: shape.rels[i].kind === 'composite' ? src.memberIndex(r.name, agg.name) : undefined }));

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
  const shape = shapeOf(pipeline, agg);
  const { used, rels, slot } = shape;
  const views: Array<Json | undefined> = new Array(used.length);
  const rows: AggregateResult['rows'] = [];
  const groupSrc = src.forGroup ? src.forGroup(group) : src;
  const groupStates = used.map((r) => groupSrc.cache.get(r.name));
  // With P > 1 each member's states are in its partition's source: looked up per member then.
  const shared = src.forMember ? undefined : lookupsOf(shape, agg, src);
  for (const member of members) {
    const row: { member: string } & Record<string, Json> = { member };
    const from = src.forMember ? src.forMember(member) : src;
    const lookups = shared ?? lookupsOf(shape, agg, from);
    for (let i = 0; i < used.length; i++) views[i] = memberView(used[i], rels[i], lookups[i], member, group, groupStates[i], from.now);
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

/**
 * A student's documents merged into one row cost more than the rest of the row (a structured clone of each
 * text, then its words counted): the merged view is kept on the member's first state and made again only when
 * one of the states changed, or, for a view that declares the `now` parameter, when the clock moved. Plain
 * views are not kept: they are cheap, and under load their states change between most pushes anyway (a view
 * kept on a long-lived state is promoted out of the young heap, which cost more than it saved).
 */
interface MergedMemo {
  r: CompiledReducer;
  cells: CachedState[];
  ts: number[];
  now: number;
  view: Json | undefined;
}

const view = (r: CompiledReducer, s: any, now: number): Json => (r.op.view ? r.op.view(s, r.params, now) : (s as Json));

/** A member's states merged into one view; kept on its first state until one of them changes. */
function mergedView(r: CompiledReducer, cached: CachedState[], now: number): Json | undefined {
  const m = cached[0].mm;
  if (m && m.r === r && m.cells.length === cached.length && (m.now === now || (r.op.view?.length ?? 0) < 3) && cached.every((c, i) => m.cells[i] === c && m.ts[i] === c.t)) return m.view;
  // Merge into a fresh state so the per-key states stay untouched.
  let acc = r.op.init(r.params);
  for (const c of cached) acc = r.op.merge!(acc, structuredClone(c.s), r.params);
  const v = view(r, acc, now);
  cached[0].mm = { r, now, view: v, cells: cached, ts: cached.map((c) => c.t) };
  return v;
}

function memberView(
  r: CompiledReducer,
  rel: Relation,
  look: Lookup,
  member: string,
  group: string,
  groupStates: Map<string, CachedState> | undefined,
  now: number,
): Json | undefined {
  const states = look.states;
  if (!states) return undefined;
  switch (rel.kind) {
    case 'member': {
      const c = states.get(member);
      return c ? view(r, c.s, now) : undefined;
    }
    case 'group': {
      const c = groupStates?.get(group);
      return c ? view(r, c.s, now) : undefined;
    }
    case 'composite': {
      const keys = look.index?.get(member);
      if (!keys || keys.length === 0) return undefined;
      const cached: CachedState[] = [];
      for (const k of keys) {
        const c = states.get(k);
        if (c) cached.push(c);
      }
      if (cached.length === 0) return undefined;
      if (r.op.merge) return mergedView(r, cached, now);
      let latest = cached[0];
      for (const c of cached) if (c.t > latest.t) latest = c;
      return view(r, latest.s, now);
    }
    default:
      return undefined;
  }
}
