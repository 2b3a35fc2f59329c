// Engine.swapPipeline under a running server: reducers added and removed between batches, dashboards
// added and removed, and a changed reducer refused.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compilePipeline } from '../../engine/compiler.js';
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
