// Classify the changes between two versions of a pipeline, for analysts editing YAML:
//   stateless        dashboards, aggregations, archive, retention, description, source options: safe live
//   state-compatible a reducer added or removed: the others keep their state
//   state-breaking   a reducer's state version changed (engine/state-version.ts): its definition (op, params,
//                    key, from, where, map, select, time, emit, late) or, upstream, the reducers emitting a
//                    stream it reads. Its state starts fresh unless rebuilt from the archive.
// The versions decide; this module only explains them, so plan, run/serve and `state ls` always agree.
import { dirname, resolve } from 'node:path';
import { canonicalJson } from './canonical-json.js';
import { producersOf, STATE_FIELDS } from './state-version.js';
import type { CompiledPipeline, CompiledReducer } from './types.js';

export type ChangeKind = 'stateless' | 'state-compatible' | 'state-breaking';

export interface Change {
  kind: ChangeKind;
  path: string;
  what: string;
  /** Dashboards whose numbers this change affects. */
  dashboards: string[];
}

export function planChanges(before: CompiledPipeline, after: CompiledPipeline): Change[] {
  const changes: Change[] = [];
  const dashboardsOf = (p: CompiledPipeline, reducer: string) =>
    [...p.dashboards.values()].filter((d) => p.aggregations.get(d.aggregation)?.columns.some((c) => c.reducer === reducer)).map((d) => d.name);
  if (before.name !== after.name) changes.push({ kind: 'state-breaking', path: 'pipeline', what: `renamed '${before.name}' -> '${after.name}': all state, archive and dashboards are kept under the name`, dashboards: [...after.dashboards.keys()] });
  const old = new Map(before.reducers.map((r) => [r.name, r]));
  const now = new Map(after.reducers.map((r) => [r.name, r]));
  // Level order: an upstream change is listed before its readers.
  for (const r of after.reducers) {
    const o = old.get(r.name);
    if (!o) changes.push({ kind: 'state-compatible', path: `reducers.${r.name}`, what: `new reducer '${r.name}' (${r.op.name}): starts empty`, dashboards: dashboardsOf(after, r.name) });
    else if (o.version !== r.version) changes.push({ kind: 'state-breaking', path: `reducers.${r.name}`, what: whyBroken(before, after, r), dashboards: dashboardsOf(after, r.name) });
  }
  for (const name of old.keys()) if (!now.has(name)) changes.push({ kind: 'state-compatible', path: `reducers.${name}`, what: `reducer '${name}' removed: its state becomes stale (loflow state drop)`, dashboards: dashboardsOf(before, name) });
  for (const section of ['aggregations', 'dashboards', 'archive', 'sources', 'description', 'rosters', 'identifiers', 'retention'] as const) {
    const a = before.spec[section] ?? {};
    const b = after.spec[section] ?? {};
    if (typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) {
      if (canonicalJson(a) !== canonicalJson(b)) changes.push({ kind: 'stateless', path: section, what: `${section} changed`, dashboards: [] });
      continue;
    }
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (canonicalJson(a[key]) === canonicalJson(b[key])) continue;
      // A roster file written relative to another folder can still be the same file.
      if (section === 'rosters' && a[key] && b[key] && resolve(dirname(before.file), a[key].file) === resolve(dirname(after.file), b[key].file) && a[key].member === b[key].member) continue;
      const dashboards = section === 'aggregations' ? [...after.dashboards.values()].filter((d) => d.aggregation === key).map((d) => d.name) : section === 'dashboards' ? [key] : [];
      const what = a[key] === undefined ? 'added' : b[key] === undefined ? 'removed' : 'changed';
      changes.push({ kind: 'stateless', path: `${section}.${key}`, what: `${section}.${key} ${what}`, dashboards });
    }
  }
  return changes;
}

/** Why a reducer's version moved: its own fields, else what changed among the producers it reads. */
function whyBroken(before: CompiledPipeline, after: CompiledPipeline, r: CompiledReducer): string {
  const name = r.name;
  const fields = STATE_FIELDS.filter((f) => canonicalJson(before.spec.reducers[name][f]) !== canonicalJson(after.spec.reducers[name][f]));
  if (fields.length) return `'${name}' changed (${fields.join(', ')}): its state must be rebuilt from the archive or reset`;
  for (const s of r.from) {
    const was = producersOf(before.reducers, s);
    const is = producersOf(after.reducers, s);
    for (const p of is) {
      const q = was.find((x) => x.name === p.name);
      if (!q) return `'${name}' reads '${s}', now also emitted by new '${p.name}': its state lacks that input, rebuild or reset it too`;
      if (q.version !== p.version) return `'${name}' reads '${s}', emitted by changed '${p.name}': its state mixes old and new input, rebuild or reset it too`;
    }
    const gone = was.find((x) => !is.some((p) => p.name === x.name));
    if (gone) return `'${name}' reads '${s}', no longer emitted by removed '${gone.name}': its state holds that input, rebuild or reset it too`;
  }
  // Neither its fields nor its producers: a key it uses was redefined in `keys:`.
  return `'${name}' changed (key definition): its state must be rebuilt from the archive or reset`;
}
