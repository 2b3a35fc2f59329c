// Build a CompiledPipeline by hand, so runtime tests do not depend on the compiler.
import { compilePath } from '../../engine/jsonpath.js';
import type { CompiledKey, CompiledPipeline, CompiledReducer, Operator, Roster } from '../../engine/types.js';

export function pathKey(name: string, path: string): CompiledKey {
  const get = compilePath(path);
  return {
    name,
    components: [name],
    extract: (e) => {
      const v = get(e);
      return v === undefined || v === null ? undefined : String(v);
    },
  };
}

export function roster(name: string, groups: Record<string, string[]>): Roster {
  const of = new Map<string, string>();
  for (const [g, ms] of Object.entries(groups)) for (const m of ms) of.set(m, g);
  return {
    name,
    groupOf: (m) => of.get(m),
    members: (g) => groups[g] ?? [],
    groups: () => Object.keys(groups),
    column: () => undefined,
  };
}

export interface ReducerDef {
  name: string;
  op: Operator;
  from: string[];
  key: CompiledKey;
  params?: unknown;
  where?: (e: any) => boolean;
  emit?: string;
  level?: number;
}

export function pipelineOf(reducers: ReducerDef[], extra: Partial<CompiledPipeline> = {}): CompiledPipeline {
  const sources = new Map(
    ['in', 'other'].map((n) => [n, { name: n, kind: 'http', schema: 'any', options: {}, validate: (e: unknown) => (e && typeof e === 'object' ? null : 'not an object') }]),
  );
  const compiled: CompiledReducer[] = reducers.map((r) => ({
    name: r.name,
    op: r.op,
    params: r.params ?? {},
    from: r.from,
    key: r.key,
    where: r.where,
    time: (e) => (typeof e.ts === 'number' ? e.ts : undefined),
    emit: r.emit,
    version: 'v1',
    level: r.level ?? 0,
  }));
  const streams = new Map<string, { name: string; producer: string | null; consumers: string[] }>();
  for (const s of sources.keys()) streams.set(s, { name: s, producer: null, consumers: [] });
  for (const r of compiled) if (r.emit) streams.set(r.emit, { name: r.emit, producer: r.name, consumers: [] });
  return {
    name: 'test',
    file: '',
    text: '',
    spec: {},
    hash: 'h',
    sources,
    keys: new Map(),
    rosters: new Map(),
    streams,
    reducers: compiled,
    aggregations: new Map(),
    dashboards: new Map(),
    ...extra,
  };
}

/** Records every event's `seq` in order: lets tests see the exact order a key's events were applied in. */
export const sequence: Operator<number[]> = {
  name: 'sequence',
  summary: 'test: the seq of every event, in applied order',
  params: {},
  init: () => [],
  reduce: (s, e) => {
    s.push(e.seq);
    return s;
  },
  example: '',
};

/** Emits a `group` event after every `n` events of a key (a cascade). */
export const everyN: Operator<{ n: number; total: number }> = {
  name: 'every_n',
  summary: 'test: emit every n events',
  params: {},
  init: () => ({ n: 0, total: 0 }),
  reduce: (s, e, ctx) => {
    s.n++;
    s.total += e.value ?? 0;
    if (s.n === 3) {
      ctx.emit({ user: ctx.key, total: s.total, last: e.seq });
      s.n = 0;
      s.total = 0;
    }
    return s;
  },
  example: '',
};
