// A dashboard push rebuilds a class's rows; a student's documents merged into one row (a composite key with
// merge) are merged again only when one of the states changed, or, for a view that declares `now`, when the
// clock moved (engine/aggregate.ts). Counted here by wrapping each operator's view, and checked against a
// fresh engine that computes everything once.
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent, Operator } from '../../engine/types.js';

const root = join(import.meta.dirname, '../..');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const text = `pipeline: memo
sources:
  batch: { kind: http, path: /v1/events, schema: lo-event }
rosters:
  demo: { file: rosters/demo.csv }
keys:
  student: $.auth.user_id
  document: $.doc_id
  student_doc: [student, document]
  class: { lookup: demo, by: student, column: class }
reducers:
  activity: { from: [batch], key: student, op: time_on_task, params: { idle_after: 1m }, time: $.ts }
  text: { from: [batch], key: student_doc, where: "event == 'google_docs_save'", op: reconstruct_text, time: $.ts }
aggregations:
  overview:
    group_by: class
    columns: { active_ms: activity.active_ms, idle: activity.idle, length: text.length, documents: text.documents }
`;

/**
 * The pipeline, with every view counted per reducer (arity kept: it says whether a view reads `now`);
 * `readsNow`: these reducers' views declare `now` even if the operator's does not.
 */
async function counted(readsNow: string[] = []): Promise<{ pipeline: CompiledPipeline; calls: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-memo-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  writeFileSync(join(dir, 'p.yaml'), text);
  const { pipeline, errors } = await compilePipelineFile(join(dir, 'p.yaml'));
  if (!pipeline) throw new Error(JSON.stringify(errors));
  const calls: Record<string, number> = {};
  for (const r of pipeline.reducers) {
    const op = r.op as Operator;
    const view = op.view!;
    calls[r.name] = 0;
    const wrapped: Operator['view'] =
      view.length >= 3 || readsNow.includes(r.name)
        ? (s, p, now) => (calls[r.name]++, view.call(op, s, p, now))
        : // Declares no `now`: the memo may keep it while the clock moves.
          (s, p) => (calls[r.name]++, (view as (s: unknown, p: unknown) => ReturnType<typeof view>).call(op, s, p));
    (r as { op: Operator }).op = { ...op, view: wrapped };
  }
  return { pipeline, calls };
}

const t0 = Date.UTC(2026, 0, 12, 9);
const typed = (user: string, ts: number): LoEvent => ({ event: 'keystroke', ts, auth: { user_id: user }, doc_id: `d-${user}` });
const saved = (user: string, doc: string, s: string, ts: number): LoEvent => ({ event: 'google_docs_save', ts, auth: { user_id: user }, doc_id: doc, bundles: [{ commands: [{ ty: 'is', ibi: 1, s }] }] });

describe('merged views are made once per state change', () => {
  it('a second push of an unchanged class merges nothing again; a moved clock does only for views that read it', async () => {
    const { pipeline, calls } = await counted();
    const engine = new Engine(pipeline);
    await engine.start();
    // class-a: s-0000 and s-0004 in the demo roster (every 4th student).
    await engine.ingest('batch', [typed('s-0000', t0), saved('s-0000', 'doc1', 'hello world', t0 + 10), typed('s-0004', t0 + 20), saved('s-0004', 'doc9', 'hi', t0 + 30)]);
    await engine.flush();
    const first = engine.aggregate('overview', 'class-a');
    const after1 = { ...calls };
    expect(after1.activity).toBeGreaterThan(0);
    expect(after1.text).toBeGreaterThan(0);

    expect(engine.aggregate('overview', 'class-a')).toEqual(first);
    expect(calls.text).toBe(after1.text); // nothing changed: no document merged again

    // Another class's event moves the clock: time_on_task's view reads `now` (idle), reconstruct_text's does not.
    await engine.ingest('batch', [typed('s-0001', t0 + 120_000)]);
    await engine.flush();
    const later = engine.aggregate('overview', 'class-a');
    expect(calls.activity).toBeGreaterThan(after1.activity);
    expect(calls.text).toBe(after1.text);
    const row = (rows: typeof later.rows, m: string) => rows.find((r) => r.member === m)!;
    expect(row(first.rows, 's-0000').idle).toBe(false);
    expect(row(later.rows, 's-0000').idle).toBe(true); // 2 minutes later by the clock: idle (over 1m)
    expect(row(later.rows, 's-0000').length).toBe(11);
    await engine.stop();

    // The same with a merged view that declares `now`: merged again once the clock moved.
    const withNow = await counted(['text']);
    const e2 = new Engine(withNow.pipeline);
    await e2.start();
    await e2.ingest('batch', [saved('s-0000', 'doc1', 'hello world', t0)]);
    await e2.flush();
    e2.aggregate('overview', 'class-a');
    const merges = withNow.calls.text;
    e2.aggregate('overview', 'class-a');
    expect(withNow.calls.text).toBe(merges);
    await e2.ingest('batch', [typed('s-0001', t0 + 120_000)]);
    await e2.flush();
    e2.aggregate('overview', 'class-a');
    expect(withNow.calls.text).toBe(merges + 1);
    await e2.stop();
  });

  it('a changed state, or a new document merged into a row, shows at the next push; rows equal a fresh engine', async () => {
    const { pipeline, calls } = await counted();
    const engine = new Engine(pipeline);
    await engine.start();
    const sent: LoEvent[] = [saved('s-0000', 'doc1', 'hello', t0), typed('s-0004', t0 + 5)];
    await engine.ingest('batch', sent);
    await engine.flush();
    const before = engine.aggregate('overview', 'class-a');
    expect(before.rows.find((r) => r.member === 's-0000')).toMatchObject({ length: 5, documents: 1 });
    const textCalls = calls.text;

    const more = [saved('s-0000', 'doc1', 'big ', t0 + 10), saved('s-0000', 'doc2', 'abc', t0 + 20)];
    sent.push(...more);
    await engine.ingest('batch', more);
    await engine.flush();
    const after = engine.aggregate('overview', 'class-a');
    expect(after.rows.find((r) => r.member === 's-0000')).toMatchObject({ length: 12, documents: 2 });
    expect(calls.text).toBe(textCalls + 1); // s-0000's merged row only: s-0004 has no document

    const fresh = new Engine((await counted()).pipeline);
    await fresh.start();
    await fresh.ingest('batch', sent);
    await fresh.flush();
    expect(after).toEqual(fresh.aggregate('overview', 'class-a'));
    await fresh.stop();
    await engine.stop();
  });
});
