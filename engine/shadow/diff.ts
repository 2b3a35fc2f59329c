// Shadow runs: the same input through two versions of a pipeline (in memory), and what a teacher would see
// change: per dashboard and class, each cell (student, column) or summary value whose value differs.
import { canonicalJson } from '../compiler.js';
import { Engine, type AggregateResult } from '../runtime.js';
import type { CompiledPipeline, Json } from '../types.js';
import { readInput, type InputReport } from './event-input.js';

export interface CellChange {
  dashboard: string;
  class: string;
  /** The student, or `(summary)` for a summary value. */
  student: string;
  column: string;
  /** undefined: the cell does not exist on that side (column or student added/removed). */
  old?: Json;
  new?: Json;
}

export interface ShadowReport extends InputReport {
  events: number;
  /** Events of a stream one of the pipelines has no source for (fed to the other only). */
  skipped: Record<'old' | 'new', number>;
  rejected: Record<'old' | 'new', number>;
  changes: CellChange[];
}

export const SUMMARY = '(summary)';

/** Feed one input to both pipelines; compare every dashboard's aggregation for every class. */
export async function shadowDiff(before: CompiledPipeline, after: CompiledPipeline, input: string): Promise<ShadowReport> {
  const engines = { old: new Engine(before, { queueLimit: 1 << 16 }), new: new Engine(after, { queueLimit: 1 << 16 }) };
  const report: ShadowReport = { events: 0, notJson: 0, firstErrors: [], skipped: { old: 0, new: 0 }, rejected: { old: 0, new: 0 }, changes: [] };
  const sources = [...new Set([...before.sources.keys(), ...after.sources.keys()])];
  for await (const chunk of readInput(input, [...before.sources.keys()][0], sources, report)) {
    report.events += chunk.length;
    for (const side of ['old', 'new'] as const) {
      const engine = engines[side];
      // Consecutive lines of one stream go in one ingest call.
      for (let i = 0; i < chunk.length; ) {
        let j = i;
        while (j < chunk.length && chunk[j].stream === chunk[i].stream) j++;
        if (engine.pipeline.sources.has(chunk[i].stream)) {
          const r = await engine.ingest(chunk[i].stream, chunk.slice(i, j).map((l) => l.event));
          report.rejected[side] += r.rejected.length;
        } else report.skipped[side] += j - i;
        i = j;
      }
    }
  }
  await Promise.all([engines.old.flush(), engines.new.flush()]);
  const names = [...new Set([...before.dashboards.keys(), ...after.dashboards.keys()])];
  for (const dashboard of names) {
    const a = tables(engines.old, dashboard);
    const b = tables(engines.new, dashboard);
    for (const group of [...new Set([...a.keys(), ...b.keys()])].sort()) {
      report.changes.push(...compare(dashboard, group, a.get(group), b.get(group)));
    }
  }
  await Promise.all([engines.old.stop(), engines.new.stop()]);
  return report;
}

/** A dashboard's aggregation per class, or nothing when the pipeline has no such dashboard. */
function tables(engine: Engine, dashboard: string): Map<string, AggregateResult> {
  const d = engine.pipeline.dashboards.get(dashboard);
  const out = new Map<string, AggregateResult>();
  if (!d) return out;
  for (const g of engine.groups(d.aggregation)) out.set(g, engine.aggregate(d.aggregation, g));
  return out;
}

function compare(dashboard: string, group: string, a: AggregateResult | undefined, b: AggregateResult | undefined): CellChange[] {
  const out: CellChange[] = [];
  const cells = (student: string, x: Record<string, Json> | undefined, y: Record<string, Json> | undefined) => {
    for (const column of [...new Set([...Object.keys(x ?? {}), ...Object.keys(y ?? {})])]) {
      if (column === 'member') continue;
      const [o, n] = [x?.[column], y?.[column]];
      if (canonicalJson(o ?? null) === canonicalJson(n ?? null) && (o === undefined) === (n === undefined)) continue;
      const change: CellChange = { dashboard, class: group, student, column };
      if (o !== undefined) change.old = o;
      if (n !== undefined) change.new = n;
      out.push(change);
    }
  };
  const rowsA = new Map((a?.rows ?? []).map((r) => [r.member, r]));
  const rowsB = new Map((b?.rows ?? []).map((r) => [r.member, r]));
  for (const student of [...new Set([...rowsA.keys(), ...rowsB.keys()])]) cells(student, rowsA.get(student), rowsB.get(student));
  cells(SUMMARY, a?.summary, b?.summary);
  return out;
}
