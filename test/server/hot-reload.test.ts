// Engine.swapPipeline under a running server: reducers added and removed between batches, dashboards
// added and removed, and a changed reducer refused; a reloaded roster reaches an open dashboard.
import { describe, expect, inject, it, vi } from 'vitest';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compilePipeline } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { DashboardHub } from '../../engine/server/dashboard-hub.js';
import { createMetrics } from '../../engine/server/metrics.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { demoPipeline, demoServer, keystroke } from './server-fixture.js';

const text = readFileSync(demoPipeline, 'utf8');
const compile = async (t: string) => (await compilePipeline(t, demoPipeline)).pipeline!;

describe('live pipeline swap', () => {
  it('adds and removes reducers and dashboards, keeps state, refuses a changed reducer', async () => {
    const s = await demoServer();
    try {
      const auth = 'tok-ada';
      await s.post(JSON.stringify([keystroke('s-0000', 1), keystroke('s-0000', 2)]));
      await s.engine.flush();

      // Add a reducer keyed by student|document and a second dashboard showing it.
      const added = text
        .replace('reducers:\n', 'reducers:\n  doc_events: { from: [extension, batch], key: student_doc, op: count }\n')
        .replace('dashboards:\n', 'dashboards:\n  docs: { aggregation: docs_view, push: on_change, min_interval: 100ms }\n')
        .replace('aggregations:\n', 'aggregations:\n  docs_view:\n    group_by: class\n    columns:\n      doc_events: doc_events\n');
      s.engine.swapPipeline(await compile(added));
      await s.post(JSON.stringify([keystroke('s-0000', 3)]));
      await s.engine.flush();
      const overview = await (await s.get('/v1/dashboards/overview/class-a', auth)).json();
      expect(overview.rows.find((r: any) => r.member === 's-0000').events).toBe(3); // kept across the swap
      const docs = await (await s.get('/v1/dashboards/docs/class-a', auth)).json();
      expect(docs.rows.find((r: any) => r.member === 's-0000').doc_events).toBe(1); // started empty at the swap
      expect((await (await s.get('/v1/dashboards', auth)).json()).dashboards.map((d: any) => d.name)).toEqual(['docs', 'overview']);

      // A subscriber of a dashboard that goes away is told so.
      const got: any[] = [];
      const unsubscribe = s.hub.subscribe(s.engine.pipeline.dashboards.get('docs')!, 'class-a', { send: (m) => got.push(m) });
      s.engine.swapPipeline(await compile(text));
      expect(got.at(-1)).toEqual({ type: 'closed', reason: "dashboard 'docs' was removed from the pipeline" });
      unsubscribe();
      expect((await s.get('/v1/dashboards/docs/class-a', auth)).status).toBe(404);
      expect(s.engine.keys('doc_events')).toEqual([]);

      // A reducer whose definition changed cannot be swapped in: its state would change meaning.
      const breaking = await compile(text.replace('idle_after: 5m', 'idle_after: 2m'));
      expect(() => s.engine.swapPipeline(breaking)).toThrow(/reducers changed \(time_on_task\)/);
      expect(s.engine.pipeline.text).toBe(text);
    } finally {
      await s.close();
    }
  });
});

describe('live swap of a reloaded roster (Redis state)', () => {
  it('shows a student newly added to a watched class with the states stored before a restart', async () => {
    const name = `roster${Math.random().toString(36).slice(2, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), 'loflow-roster-swap-'));
    mkdirSync(join(dir, 'rosters'));
    const roster = join(dir, 'rosters/demo.csv');
    copyFileSync(join(dirname(demoPipeline), 'rosters/demo.csv'), roster);
    const file = join(dir, 'p.yaml');
    const own = text.replace('pipeline: writing-observer', `pipeline: ${name}`);
    const compileHere = async () => (await compilePipeline(own, file)).pipeline!;

    // Before the restart: s-0200 is in no roster; their events are kept and processed (and stored).
    const first = new Engine(await compileHere(), { store: await RedisStateStore.connect(inject('redisUrl')) });
    await first.start();
    const r = await first.ingest('batch', [keystroke('s-0200', 1), keystroke('s-0200', 2), keystroke('s-0200', 3)]);
    expect(r.warnings).toHaveLength(3);
    await first.flush();
    await first.stop();

    const engine = new Engine(await compileHere(), { store: await RedisStateStore.connect(inject('redisUrl')) });
    await engine.start();
    const hub = new DashboardHub(engine, createMetrics(engine));
    try {
      const got: any[] = [];
      hub.subscribe(engine.pipeline.dashboards.get('overview')!, 'class-a', { send: (m) => got.push(m) });
      await vi.waitFor(() => expect(got[0]?.type).toBe('snapshot'));
      expect(got[0].rows.map((x: any) => x.member)).not.toContain('s-0200');

      // The teacher adds the student: the open subscription gets their row, with the stored count.
      appendFileSync(roster, 's-0200,class-a,t-ada,Student 200\n');
      engine.swapPipeline(await compileHere());
      await vi.waitFor(() => expect(got.some((m) => m.type === 'delta' && m.rows.some((x: any) => x.member === 's-0200' && x.events === 3))).toBe(true), { timeout: 5000 });
      expect(engine.aggregate('class_overview', 'class-a').rows).toHaveLength(51);
    } finally {
      hub.close();
      await engine.stop();
    }
  });
});
