// The `aggregations:` and `dashboards:` sections: per-class tables from reducers' views, and what teachers see.
import { builtinAggregators } from '../../operators/registry.js';
import { parseDuration } from '../duration.js';
import { describeErrors } from '../event-schemas.js';
import { compileFilter } from '../expression.js';
import type { CompiledAggregation, CompiledReducer, CompiledSummary, DashboardSpec } from '../types.js';
import { hasName, type CompileCtx } from './context.js';
import { shippedValidator } from './shipped-schemas.js';
import { didYouMean, type Path } from './source-map.js';
import { viewFieldProblem } from './view-fields.js';

/** The `aggregations:` section: a class's table (columns from reducers' views) and its summary. */
export function compileAggregations(ctx: CompileCtx, reducers: CompiledReducer[]): Map<string, CompiledAggregation> {
  const out = new Map<string, CompiledAggregation>();
  const byName = new Map(reducers.map((r) => [r.name, r]));
  const reducerNames = Object.keys(ctx.spec.reducers ?? {});
  for (const [name, def] of Object.entries<Record<string, any>>(ctx.spec.aggregations ?? {})) {
    const at: Path = ['aggregations', name];
    const group = ctx.keys.get(def.group_by);
    if (!group) {
      ctx.err([...at, 'group_by'], `unknown key '${def.group_by}'`, { hint: didYouMean(def.group_by, ctx.keys.keys()) });
      continue;
    }
    if (!group.key.lookup) {
      ctx.err([...at, 'group_by'], `group_by needs a roster lookup key (like class: {lookup: roster, by: student, column: class}); '${def.group_by}' is not one`);
      continue;
    }
    const member = group.key.lookup.by;
    const entries: Array<[string, string, Path]> = Array.isArray(def.columns)
      ? def.columns.map((c: string, i: number) => [c, c, [...at, 'columns', i]])
      : Object.entries<string>(def.columns).map(([alias, c]) => [alias, c, [...at, 'columns', alias]]);
    const columns: CompiledAggregation['columns'] = [];
    for (const [alias, ref, cat] of entries) {
      const [reducer, ...field] = ref.split('.');
      const r = byName.get(reducer);
      if (!r) {
        if (!reducerNames.includes(reducer)) ctx.err(cat, `unknown reducer '${reducer}'`, { hint: didYouMean(reducer, reducerNames) });
        continue;
      }
      const keyedOk = r.key.name === member || r.key.name === group.key.name || (r.key.components.length > 1 && r.key.components.includes(member));
      if (!keyedOk) {
        ctx.err(cat, `reducer '${reducer}' is keyed by '${r.key.name}': it cannot be shown per ${member} (key it by ${member}, by ${group.key.name}, or by a composite key with ${member})`);
        continue;
      }
      const problem = viewFieldProblem(r.op.viewSchema, field);
      if (problem) {
        ctx.err(cat, `column '${alias}': ${problem.message.replace('the view', `the view of '${reducer}' (${r.op.name})`)}`, { hint: problem.hint });
        continue;
      }
      columns.push({ name: alias, reducer, field });
    }
    const summary: CompiledSummary[] = [];
    for (const [sname, sdef] of Object.entries<Record<string, any>>(def.summary ?? {})) {
      const sat: Path = [...at, 'summary', sname];
      const aggregator = builtinAggregators.get(sdef.op);
      if (!aggregator) {
        ctx.err([...sat, 'op'], `unknown aggregator '${sdef.op}'`, { hint: didYouMean(sdef.op, builtinAggregators.keys()) });
        continue;
      }
      if (sdef.of !== undefined && !entries.some(([alias]) => alias === sdef.of)) {
        ctx.err([...sat, 'of'], `unknown column '${sdef.of}'`, { hint: didYouMean(sdef.of, entries.map(([a]) => a)) });
        continue;
      }
      const params = sdef.params ?? {};
      const validate = shippedValidator(`agg_${aggregator.name}`, aggregator.params);
      if (!validate(params)) {
        ctx.err([...sat, 'params'], `bad params for '${aggregator.name}': ${describeErrors(validate.errors).replace('(event)', 'params')}`);
        continue;
      }
      let where: CompiledSummary['where'];
      if (sdef.where !== undefined) {
        const f = compileFilter(sdef.where);
        if (!f.ok) {
          ctx.err([...sat, 'where'], f.message, { inner: f.offset });
          continue;
        }
        where = f.fn;
      }
      summary.push({ name: sname, aggregator, params, of: sdef.of, where });
    }
    out.set(name, { name, groupBy: group.key, member, columns, summary });
  }
  return out;
}

/** The `dashboards:` section: which aggregation each shows, and how often it pushes. */
export function compileDashboards(ctx: CompileCtx, aggregations: Map<string, CompiledAggregation>): Map<string, DashboardSpec> {
  const out = new Map<string, DashboardSpec>();
  for (const [name, def] of Object.entries<Record<string, any>>(ctx.spec.dashboards ?? {})) {
    const at: Path = ['dashboards', name];
    if (!aggregations.has(def.aggregation)) {
      if (!hasName(ctx.spec.aggregations, def.aggregation)) {
        ctx.err([...at, 'aggregation'], `unknown aggregation '${def.aggregation}'`, { hint: didYouMean(def.aggregation, Object.keys(ctx.spec.aggregations ?? {})) });
      }
      continue;
    }
    const { aggregation, push, min_interval, ...options } = def;
    out.set(name, { name, aggregation, push: push ?? 'on_change', minIntervalMs: min_interval === undefined ? 1000 : parseDuration(min_interval), options });
  }
  return out;
}
