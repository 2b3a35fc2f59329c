// Before `run`/`serve` starts an edited pipeline against a durable state store: find the reducers whose
// state the store holds under another version (definition or upstream) than the pipeline's, so the CLI can refuse
// to start, reset them or rebuild them, and never silently serve half-old, half-new numbers.
import { compilePipeline } from './compiler.js';
import { planChanges, type Change } from './plan.js';
import { producersOf } from './state-version.js';
import type { CompiledPipeline, StateStore } from './types.js';

export interface VersionCount {
  reducer: string;
  version: string;
  keys: number;
}

export interface StaleVersion extends VersionCount {
  /** The version the pipeline now uses. */
  current: string;
  /**
   * Set when a reducer emitting a stream it reads is stale in the store too: its keys were built from that
   * reducer's old output (whether or not its own definition changed as well).
   */
  via?: { stream: string; reducer: string };
  /** Dashboards showing this reducer. */
  dashboards: string[];
}

export interface UpgradeCheck {
  /** Reducers of the pipeline with live keys under another version: their state does not match the YAML. */
  breaking: StaleVersion[];
  /** Versions of reducers the pipeline no longer has (harmless: `loflow state drop --stale` clears them). */
  removed: VersionCount[];
  /** The full plan against the pipeline that last ran on this store, when the store kept its text. */
  plan: Change[] | null;
}

/** Key counts per reducer version, from the store's key names when it can, else from a full scan. */
export async function storedVersions(store: StateStore, pipeline: string): Promise<VersionCount[]> {
  if (store.versions) return store.versions(pipeline);
  const counts = new Map<string, VersionCount>();
  for await (const [ref] of store.scan(pipeline)) {
    const id = `${ref.reducer}\0${ref.version}`;
    const row = counts.get(id) ?? { reducer: ref.reducer, version: ref.version, keys: 0 };
    row.keys++;
    counts.set(id, row);
  }
  return [...counts.values()];
}

export async function checkStore(store: StateStore, pipeline: CompiledPipeline): Promise<UpgradeCheck> {
  const current = new Map(pipeline.reducers.map((r) => [r.name, r.version]));
  const dashboardsOf = (reducer: string) =>
    [...pipeline.dashboards.values()].filter((d) => pipeline.aggregations.get(d.aggregation)?.columns.some((c) => c.reducer === reducer)).map((d) => d.name);
  const breaking: StaleVersion[] = [];
  const removed: VersionCount[] = [];
  const stored = await storedVersions(store, pipeline.name);
  for (const v of stored) {
    if (v.keys === 0) continue;
    const now = current.get(v.reducer);
    if (now === undefined) removed.push(v);
    else if (now !== v.version) breaking.push({ ...v, current: now, dashboards: dashboardsOf(v.reducer) });
  }
  // A version covers the reducer's upstream (state-version.ts), so readers of a changed reducer's stream
  // are among `breaking` by their own versions; name the upstream reducer that explains them.
  const stale = new Set(breaking.map((b) => b.reducer));
  for (const b of breaking) {
    const r = pipeline.reducers.find((x) => x.name === b.reducer)!;
    for (const stream of r.from) {
      const producer = producersOf(pipeline.reducers, stream).find((p) => stale.has(p.name));
      if (producer) {
        b.via = { stream, reducer: producer.name };
        break;
      }
    }
  }
  breaking.sort((a, b) => a.reducer.localeCompare(b.reducer) || a.version.localeCompare(b.version));
  let plan: Change[] | null = null;
  const last = await store.lastPipeline?.(pipeline.name);
  if (last && last.text !== pipeline.text) {
    // Compiled where it was, else beside the new file (relative roster paths); a text that compiles in
    // neither place (a roster moved) just means no field-level plan: the version check above still holds.
    const before = (await compilePipeline(last.text, last.file)).pipeline ?? (await compilePipeline(last.text, pipeline.file)).pipeline;
    if (before) plan = planChanges(before, pipeline);
  }
  return { breaking, removed, plan };
}

/** One line per change, as `loflow plan` prints them. */
export function formatPlan(changes: Change[]): string[] {
  return changes.map((c) => `${c.kind.padEnd(17)} ${c.what}${c.dashboards.length ? `  [dashboards: ${c.dashboards.join(', ')}]` : ''}`);
}

/** What the store holds that this pipeline would not use, and the plan, as printable lines. */
export function describeCheck(check: UpgradeCheck): string[] {
  const lines: string[] = [];
  if (check.plan?.length) lines.push('plan (against the pipeline that last ran on this store):', ...formatPlan(check.plan).map((l) => `  ${l}`));
  for (const b of check.breaking) {
    lines.push(
      `state-breaking    '${b.reducer}': the store holds ${b.keys} keys of version ${b.version}, this pipeline computes version ${b.current}` +
        (b.via ? ` (they were built from '${b.via.stream}' as changed '${b.via.reducer}' emitted it before)` : '') +
        (b.dashboards.length ? `  [dashboards: ${b.dashboards.join(', ')}]` : ''),
    );
  }
  for (const r of check.removed) lines.push(`state-compatible  '${r.reducer}' is no longer in the pipeline: ${r.keys} keys of version ${r.version} are stale (loflow state drop --stale)`);
  return lines;
}

/** `--reset`: drop the stale versions of the changed reducers; the pipeline's current versions are kept. */
export async function resetStale(store: StateStore, pipeline: string, breaking: StaleVersion[]): Promise<string[]> {
  const out: string[] = [];
  for (const b of breaking) {
    const n = await store.drop(pipeline, b.reducer, b.version);
    out.push(`reset: dropped ${n} states of '${b.reducer}' version ${b.version}; it starts empty under version ${b.current}`);
  }
  return out;
}
