// Classify the changes between two versions of a pipeline, for analysts editing YAML:
//   stateless        dashboards, aggregations, archive, description, source options: safe live
//   state-compatible a reducer added or removed: the others keep their state
//   state-breaking   a reducer's definition changed (op, params, key, from, where, map, time, emit): its
//                    state version changes, so its state starts fresh unless rebuilt from the archive
import { dirname, resolve } from 'node:path';
import { canonicalJson } from './compiler.js';
import type { CompiledPipeline } from './types.js';

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
  for (const [name, r] of now) {
    const o = old.get(name);
    if (!o) changes.push({ kind: 'state-compatible', path: `reducers.${name}`, what: `new reducer '${name}' (${r.op.name}): starts empty`, dashboards: dashboardsOf(after, name) });
    else if (o.version !== r.version) {
      const fields = ['op', 'params', 'key', 'from', 'where', 'map', 'select', 'time', 'emit', 'late'].filter(
        (f) => canonicalJson(before.spec.reducers[name][f]) !== canonicalJson(after.spec.reducers[name][f]),
      );
      changes.push({ kind: 'state-breaking', path: `reducers.${name}`, what: `'${name}' changed (${fields.join(', ') || 'key definition'}): its state must be rebuilt from the archive or reset`, dashboards: dashboardsOf(after, name) });
    }
  }
  // A reducer reading a stream that a changed reducer emits keeps its own version, but its state was
  // built from the old emitter's output: it needs the same rebuild or reset.
  const broken = new Set(changes.filter((c) => c.kind === 'state-breaking' && c.path.startsWith('reducers.')).map((c) => c.path.slice('reducers.'.length)));
  for (const r of after.reducers) {
    if (broken.has(r.name) || !old.has(r.name)) continue;
    const upstream = r.from.map((s) => [s, after.reducers.find((p) => broken.has(p.name) && (p.emit === s || p.late === s))] as const).find(([, p]) => p);
    if (upstream) {
      broken.add(r.name); // reducers are in level order, so a chain of readers is followed to its end
      changes.push({ kind: 'state-breaking', path: `reducers.${r.name}`, what: `'${r.name}' reads '${upstream[0]}', emitted by changed '${upstream[1]!.name}': its state mixes old and new input, rebuild or reset it too`, dashboards: dashboardsOf(after, r.name) });
    }
  }
  for (const name of old.keys()) if (!now.has(name)) changes.push({ kind: 'state-compatible', path: `reducers.${name}`, what: `reducer '${name}' removed: its state becomes stale (loflow state drop)`, dashboards: dashboardsOf(before, name) });
  for (const section of ['aggregations', 'dashboards', 'archive', 'sources', 'description', 'rosters'] as const) {
    const a = before.spec[section] ?? {};
    const b = after.spec[section] ?? {};
    if (typeof a !== 'object' || typeof b !== 'object') {
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
