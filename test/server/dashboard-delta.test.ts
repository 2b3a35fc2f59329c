// A delta carries the changed rows only, and its wire JSON (assembled from the rows' JSON the hub compares)
// is exactly the message's JSON; each tick's time is a metric.
import { describe, expect, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { DashboardHub } from '../../engine/server/dashboard-hub.js';
import { createMetrics } from '../../engine/server/metrics.js';
import { demoPipeline, keystroke } from './server-fixture.js';

describe('dashboard deltas', () => {
  it('hold the changed rows only, and their JSON is the message’s', async () => {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const d = pipeline!.dashboards.get('overview')!;
    d.minIntervalMs = 20;
    const engine = new Engine(pipeline!);
    await engine.start();
    const metrics = createMetrics(engine);
    const hub = new DashboardHub(engine, metrics);
    const got: Array<{ msg: any; json: string }> = [];
    try {
      hub.subscribe(d, 'class-a', { send: (msg, json) => got.push({ msg, json }) });
      await new Promise((r) => setTimeout(r, 50));
      expect(got.map((g) => g.msg.type)).toEqual(['snapshot']);
      await engine.ingest('batch', [keystroke('s-0000', 1000), keystroke('s-0004', 1000)]);
      await engine.flush();
      await new Promise((r) => setTimeout(r, 150));
      await engine.ingest('batch', [keystroke('s-0004', 2000)]);
      await engine.flush();
      await new Promise((r) => setTimeout(r, 150));
      const deltas = got.filter((g) => g.msg.type === 'delta');
      expect(deltas.map((g) => g.msg.rows.map((r: any) => r.member).sort())).toEqual([['s-0000', 's-0004'], ['s-0004']]);
      for (const { msg, json } of deltas) {
        expect(json).toBe(JSON.stringify(msg));
        expect(msg.interval_ms).toBeGreaterThanOrEqual(20);
      }
      expect(deltas[1].msg.rows[0].events).toBe(2);
      // Every tick's time is in /metrics (why the interval grew, when it does).
      const text = await metrics.registry.metrics();
      expect(Number(/loflow_dashboard_tick_seconds_count\{dashboard="overview"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(2);
    } finally {
      hub.close();
      await engine.stop();
    }
  });
});
