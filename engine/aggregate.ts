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
 * Views computed since their state last changed, per compiled reducer (a live reload's reducers start afresh).
 * A push rebuilds a class's rows, but most of its states did not change since the last push: a document's
 * text, merged over a student's documents, cost more than the rest of the row. A view whose function
 * declares the `now` parameter is recomputed whenever the clock moved too.
 */
interface Memo {
  t: number;
  now: number;
  view: Json | undefined;
}
interface MergedMemo {
  cells: CachedState[];
  ts: number[];
  now: number;
  view: Json | undefined;
}
const memos = new WeakMap<CompiledReducer, { one: WeakMap<CachedState, Memo>; merged: WeakMap<readonly string[], MergedMemo> }>();

function memoOf(r: CompiledReducer) {
  let m = memos.get(r);
  if (!m) memos.set(r, (m = { one: new WeakMap(), merged: new WeakMap() }));
  return m;
}

const usesNow = (r: CompiledReducer) => (r.op.view?.length ?? 0) >= 3;

/** The view of one cached state, computed again only when the state (or, for a view that reads it, `now`) changed. */
function viewOf(r: CompiledReducer, c: CachedState, now: number): Json {
  if (!r.op.view) return c.s as Json;
  const one = memoOf(r).one;
  const m = one.get(c);
  if (m && m.t === c.t && (m.now === now || !usesNow(r))) return m.view as Json;
  const view = r.op.view(c.s, r.params, now);
  one.set(c, { t: c.t, now, view });
  return view;
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
      return c ? viewOf(r, c, now) : undefined;
    }
    case 'group': {
      const c = groupStates?.get(group);
      return c ? viewOf(r, c, now) : undefined;
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
      if (r.op.merge) {
        const merged = memoOf(r).merged;
        const m = merged.get(keys);
        if (m && m.cells.length === cached.length && (m.now === now || !usesNow(r)) && cached.every((c, i) => m.cells[i] === c && m.ts[i] === c.t)) return m.view;
        // Merge into a fresh state so the per-key states stay untouched.
        let acc = r.op.init(r.params);
        for (const c of cached) acc = r.op.merge(acc, structuredClone(c.s), r.params);
        const view = r.op.view ? r.op.view(acc, r.params, now) : (acc as Json);
        merged.set(keys, { cells: cached, ts: cached.map((c) => c.t), now, view });
        return view;
      }
      let latest = cached[0];
      for (const c of cached) if (c.t > latest.t) latest = c;
      return viewOf(r, latest, now);
    }
    default:
      return undefined;
  }
}
