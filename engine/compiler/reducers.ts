// The `reducers:` section: each reducer's streams, key, operator and params, filter, projection and event
// time; then the graph (cycles are errors), levels and state versions.
import { builtinOperators, isCustomOperatorSpec, loadCustomOperator } from '../../operators/registry.js';
import { ajv, describeErrors } from '../event-schemas.js';
import { compileExpression, compileFilter } from '../expression.js';
import { compilePath, JsonPathError, parsePath } from '../jsonpath.js';
import { definitionVersion, stateVersions } from '../state-version.js';
import type { CompiledReducer, CompiledSource, JsonSchema, LoEvent, Operator } from '../types.js';
import { eventTs, hasName, type CompileCtx } from './context.js';
import { oneErrorPerPath } from './schema-errors.js';
import { shippedValidator } from './shipped-schemas.js';
import { didYouMean, type Path } from './source-map.js';

async function resolveOperator(ctx: CompileCtx, spec: string, at: Path): Promise<Operator | undefined> {
  if (isCustomOperatorSpec(spec)) {
    try {
      return await loadCustomOperator(spec, ctx.baseDir);
    } catch (err) {
      ctx.err(at, (err as Error).message);
      return undefined;
    }
  }
  const op = builtinOperators.get(spec);
  if (!op) ctx.err(at, `unknown operator '${spec}'`, { hint: didYouMean(spec, builtinOperators.keys()) });
  return op;
}

/** The `reducers:` section, in level order (a reducer after those whose streams it reads). */
export async function compileReducers(ctx: CompileCtx, sources: Map<string, CompiledSource>): Promise<CompiledReducer[]> {
  const defs = (ctx.spec.reducers ?? {}) as Record<string, Record<string, any>>;
  // Streams: sources, and what reducers emit.
  const producers = new Map<string, string[]>();
  for (const [name, def] of Object.entries(defs)) {
    if (sources.has(name)) ctx.err(['reducers', name], `duplicate name: '${name}' is both a source and a reducer`, { key: true });
    for (const field of ['emit', 'late'] as const) {
      const s = def[field];
      if (!s) continue;
      if (sources.has(s)) ctx.err(['reducers', name, field], `duplicate name: stream '${s}' is already a source`);
      producers.set(s, [...(producers.get(s) ?? []), name]);
    }
  }
  const streamNames = [...sources.keys(), ...producers.keys()];
  const built: Array<CompiledReducer & { order: number }> = [];
  let order = 0;
  // Equal `where` texts compile to one function: the runtime routes a batch once for reducers that share
  // streams, key and filter (compared by identity).
  const filters = new Map<string, (e: LoEvent) => boolean>();
  for (const [name, def] of Object.entries(defs)) {
    const at: Path = ['reducers', name];
    const from: string[] = Array.isArray(def.from) ? def.from : [def.from];
    from.forEach((s, i) => {
      if (!sources.has(s) && !producers.has(s)) {
        ctx.err(Array.isArray(def.from) ? [...at, 'from', i] : [...at, 'from'], `unknown stream '${s}'`, { hint: didYouMean(s, streamNames) });
      }
    });
    const key = ctx.keys.get(def.key);
    if (!key && !hasName(ctx.spec.keys, def.key)) ctx.err([...at, 'key'], `unknown key '${def.key}'`, { hint: didYouMean(def.key, Object.keys(ctx.spec.keys ?? {})) });
    const op = await resolveOperator(ctx, def.op, [...at, 'op']);
    let params: unknown = def.params ?? {};
    if (op) {
      // Built-in params schemas are ours (checked in a test); a custom operator's is checked against the meta-schema.
      const validate = isCustomOperatorSpec(def.op) ? ajv().compile(op.params as JsonSchema) : shippedValidator(`op_${op.name}`, op.params);
      if (!validate(params)) {
        for (const e of oneErrorPerPath(validate.errors ?? [])) {
          const sub = e.instancePath.split('/').slice(1);
          if (e.keyword === 'additionalProperties') {
            const extra = (e.params as { additionalProperty: string }).additionalProperty;
            ctx.err([...at, 'params', ...sub, extra], `operator '${op.name}' has no parameter '${extra}'`, {
              key: true,
              hint: didYouMean(extra, Object.keys(((op.params as any).properties ?? {}) as object)),
            });
          } else {
            ctx.err([...at, 'params', ...sub], `bad params for '${op.name}': ${describeErrors([e]).replace('(event)', 'params')}`);
          }
        }
        params = undefined;
      } else if (op.prepare) {
        try {
          params = op.prepare(params);
        } catch (err) {
          const pe = err as Error & { param?: string };
          ctx.err(pe.param ? [...at, 'params', pe.param] : [...at, 'params'], `bad params for '${op.name}': ${pe.message}`);
          params = undefined;
        }
      }
    }
    let where: ((e: LoEvent) => boolean) | undefined;
    if (def.where !== undefined) {
      where = typeof def.where === 'string' ? filters.get(def.where) : undefined;
      if (!where) {
        const f = compileFilter(def.where);
        if (f.ok) filters.set(def.where, (where = f.fn));
        else ctx.err([...at, 'where'], f.message, { inner: f.offset });
      }
    }
    let mapFn: ((e: LoEvent) => LoEvent) | undefined;
    if (def.map) {
      const fields: Array<[string, (e: LoEvent) => unknown]> = [];
      for (const [field, src] of Object.entries<string>(def.map)) {
        const x = compileExpression(src);
        if (x.ok) fields.push([field, x.fn]);
        else ctx.err([...at, 'map', field], x.message, { inner: x.offset });
      }
      mapFn = (e) => {
        const out: LoEvent = {};
        for (const [f, fn] of fields) {
          try {
            out[f] = fn(e);
          } catch {
            // A field the event lacks stays absent in the projection.
          }
        }
        return out;
      };
    }
    if (def.select) {
      const getters: Array<[Array<string | number>, (e: unknown) => unknown]> = [];
      (def.select as string[]).forEach((p, i) => {
        try {
          getters.push([parsePath(p), compilePath(p)]);
        } catch (err) {
          if (err instanceof JsonPathError) ctx.err([...at, 'select', i], `bad JSON path: ${err.message}`, { inner: err.offset });
        }
      });
      const before = mapFn;
      mapFn = (e) => {
        const src = before ? before(e) : e;
        const out: LoEvent = {};
        for (const [segs, get] of getters) {
          const v = get(src);
          if (v === undefined) continue;
          let o: any = out;
          for (let i = 0; i < segs.length - 1; i++) o = o[segs[i]] ??= {};
          o[segs[segs.length - 1]] = v;
        }
        return out;
      };
    }
    let time: (e: LoEvent) => number | undefined = eventTs;
    if (def.time) {
      try {
        const get = compilePath(def.time);
        // Ingest checks this path too (see sources()); after a map or select it reads a projection, which
        // only the clock's own bound (runtime/levels.ts) covers.
        if (!def.map && !def.select) {
          for (const s of from) {
            const fields = ctx.timeFields.get(s);
            if (fields && !fields.some((f) => f.field === def.time)) fields.push({ field: def.time, get: get as (e: LoEvent) => unknown });
          }
        }
        // Reducers with the same `time:` path share one function: the runtime computes each route's times
        // once per function (routing.ts timesOf), so reducers sharing a route then parse an ISO time once.
        let shared = ctx.timeFns.get(def.time);
        if (!shared) {
          shared = (e) => {
            const v = get(e);
            return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Date.parse(v) : undefined;
          };
          ctx.timeFns.set(def.time, shared);
        }
        time = shared;
      } catch (err) {
        if (err instanceof JsonPathError) ctx.err([...at, 'time'], `bad JSON path: ${err.message}`, { inner: err.offset });
      }
    }
    if (!op || !key || params === undefined) continue;
    // The own definition for now; the version proper (with the upstream) is set once the graph is known.
    const version = definitionVersion(def, from, key.definition);
    built.push({ name, op, params, from, key: key.key, where, map: mapFn, time, emit: def.emit, late: def.late, version, level: 0, order: order++ });
  }

  // The graph: reducer -> reducers that read what it emits. Cycles are errors naming their nodes.
  const byName = new Map(built.map((r) => [r.name, r]));
  const next = (r: CompiledReducer) =>
    built.filter((x) => x.from.some((s) => (r.emit && s === r.emit) || (r.late && s === r.late)));
  const state = new Map<string, 0 | 1 | 2>();
  const stack: string[] = [];
  const cycles = new Set<string>();
  const visit = (r: CompiledReducer) => {
    state.set(r.name, 1);
    stack.push(r.name);
    for (const n of next(r)) {
      if (state.get(n.name) === 1) {
        const cycle = [...stack.slice(stack.indexOf(n.name)), n.name];
        const id = [...cycle].slice(0, -1).sort().join(',');
        if (!cycles.has(id)) {
          cycles.add(id);
          ctx.err(['reducers', n.name, 'from'], `cycle: ${cycle.join(' -> ')} (a pipeline must be a DAG: a reducer cannot read, directly or through others, what it emits)`);
        }
      } else if (!state.get(n.name)) visit(n);
    }
    stack.pop();
    state.set(r.name, 2);
  };
  for (const r of built) if (!state.get(r.name)) visit(r);
  if (cycles.size) return [];

  // Levels: 1 + the highest level among the producers of what a reducer reads.
  const level = (r: CompiledReducer, seen = new Set<string>()): number => {
    let l = 0;
    for (const s of r.from) for (const p of producers.get(s) ?? []) {
      const pr = byName.get(p);
      if (pr && !seen.has(p)) l = Math.max(l, 1 + level(pr, new Set([...seen, r.name])));
    }
    return l;
  };
  for (const r of built) r.level = level(r);

  // A reader's version covers the versions of the reducers whose streams it reads (see state-version.ts).
  const versions = stateVersions(built.map((r) => ({ name: r.name, definition: r.version, from: r.from, emit: r.emit, late: r.late })));
  for (const r of built) r.version = versions.get(r.name)!;

  checkStreamTypes(ctx, built, producers, defs);
  built.sort((a, b) => a.level - b.level || a.order - b.order);
  return built.map(({ order: _o, ...r }) => r);
}

/** A consumer of an emitted stream must read only fields the producer's operator declares it emits. */
function checkStreamTypes(ctx: CompileCtx, built: CompiledReducer[], producers: Map<string, string[]>, defs: Record<string, Record<string, any>>): void {
  const byName = new Map(built.map((r) => [r.name, r]));
  for (const r of built) {
    for (const s of r.from) {
      for (const p of producers.get(s) ?? []) {
        const producer = byName.get(p);
        const emits = producer?.op.emits as { properties?: Record<string, unknown> } | undefined;
        if (!producer || producer.emit !== s || !emits?.properties) continue;
        const fields = Object.keys(emits.properties);
        // Derived events also carry the producer's key fields (the runtime copies them).
        const inherited = new Set(producer.key.paths ?? []);
        const keyDef = ctx.keys.get(defs[r.name].key);
        const read: Array<{ path: string; at: Path }> = [];
        for (const path of keyDef?.paths ?? []) read.push({ path, at: ['reducers', r.name, 'key'] });
        for (const [k, v] of Object.entries<unknown>(defs[r.name].params ?? {})) {
          if (typeof v === 'string' && v.startsWith('$.')) read.push({ path: v, at: ['reducers', r.name, 'params', k] });
        }
        for (const { path, at } of read) {
          if (inherited.has(path)) continue;
          const first = parsePath(path)[0];
          if (typeof first === 'string' && !fields.includes(first)) {
            ctx.err(at, `reducer '${r.name}' reads ${path} from stream '${s}', but '${p}' (${producer.op.name}) emits only {${fields.join(', ')}}`, {
              hint: didYouMean(first, fields),
            });
          }
        }
      }
    }
  }
}
