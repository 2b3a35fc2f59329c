// The hub's effective push interval (README "pushes are coalesced"): it follows the tick time smoothed over a
// few ticks. One tick stretched (a GC pause, a busy core) leaves it at min_interval; ticks that keep taking
// more than half of it make it grow; calm shrinks it back. A real engine and hub; a class's aggregation is
// made slow on purpose (a busy wait inside aggregate), the only way to control a tick's time.
import { describe, expect, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { DashboardHub } from '../../engine/server/dashboard-hub.js';
import { createMetrics } from '../../engine/server/metrics.js';
import { demoPipeline, keystroke } from './server-fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dashboard push interval', () => {
  it('ignores one slow tick, grows under sustained slow ticks, and shrinks back', async () => {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const d = pipeline!.dashboards.get('overview')!;
    d.minIntervalMs = 20;
    const engine = new Engine(pipeline!);
    await engine.start();
    let slowMs = 0;
    let slowTicks = 0;
    const aggregate = engine.aggregate.bind(engine);
    engine.aggregate = (a, g) => {
      if (slowMs > 0) {
        slowTicks++;
        const end = performance.now() + slowMs;
        while (performance.now() < end);
      }
      return aggregate(a, g);
    };
    const changes: Array<[number, number]> = [];
    const hub = new DashboardHub(engine, createMetrics(engine), (_name, from, to) => changes.push([from, to]));
    let ts = 1000;
    // A change every 10 ms: every tick has a dirty class to push.
    const feed = async (ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end; ) {
        await engine.ingest('batch', [keystroke('s-0000', (ts += 100))]);
        await engine.flush();
        await sleep(10);
      }
    };
    try {
      hub.subscribe(d, 'class-a', { send: () => {} });
      await feed(300);
      expect(hub.interval.get('overview')).toBe(20);
      // One tick of 15 ms (over the 10 ms budget), then fast again: no change.
      slowMs = 15;
      while (slowTicks === 0) await feed(5);
      slowMs = 0;
      await feed(300);
      expect(changes).toEqual([]);
      // Every tick 15 ms: the interval grows.
      slowMs = 15;
      await feed(600);
      expect(Math.max(...changes.map(([, to]) => to))).toBeGreaterThan(20);
      // Calm: back to min_interval.
      slowMs = 0;
      for (let i = 0; i < 30 && hub.interval.get('overview') !== 20; i++) await feed(100);
      expect(hub.interval.get('overview')).toBe(20);
    } finally {
      hub.close();
      await engine.stop();
    }
  });
});
