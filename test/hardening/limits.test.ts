// Limits that hold whatever a client sends (hardening issue, findings 7 and 8): the rate limiter counts
// per verified key or address, with a bounded set of buckets; a dashboard subscriber that does not read is
// skipped, caught up with one snapshot when it reads again, and closed when it never does.
import { describe, expect, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { DashboardHub, type Subscriber } from '../../engine/server/dashboard-hub.js';
import { createMetrics } from '../../engine/server/metrics.js';
import { RateLimiter } from '../../engine/server/rate-limit.js';
import { demoPipeline, demoServer, keystroke } from '../server/server-fixture.js';

describe('rate limits', () => {
  it('cannot be bypassed with a new ?token= per request on an open source', async () => {
    const s = await demoServer({ limits: { ratePerSec: 5, rateBurst: 10 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${s.url}/v1/events?token=random-${i}-${Math.random()}`, { method: 'POST', body: JSON.stringify([keystroke('s-0001', i), keystroke('s-0001', i + 0.5)]) });
        codes.push(r.status);
      }
      expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(codes[5]).toBe(429);
    } finally {
      await s.close();
    }
  });

  it('keeps a bounded number of buckets and forgets full ones', () => {
    const limiter = new RateLimiter(100, 200, 1000);
    const t0 = 1_000_000;
    for (let i = 0; i < 20_000; i++) limiter.take(`k${i}`, 1, t0 + i / 100);
    expect(limiter.size).toBeLessThanOrEqual(1000);
    // A key that spent its burst keeps its debt while it is among the recent ones.
    expect(limiter.take('spender', 200, t0 + 300)).toBe(0);
    expect(limiter.take('spender', 50, t0 + 300)).toBeGreaterThan(0);
    // Two seconds later every bucket has refilled: all are forgotten at the next sweep.
    limiter.take('late', 1, t0 + 5000);
    expect(limiter.size).toBe(1);
  });
});

describe('dashboard subscribers that do not read', () => {
  it('are skipped while busy, get one snapshot of the latest state when they drain, and are closed when they never do', async () => {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const engine = new Engine(pipeline!);
    await engine.start();
    const hub = new DashboardHub(engine, createMetrics(engine), undefined, { maxStaleMs: 3500 });
    const d = pipeline!.dashboards.get('overview')!;
    const got: Record<string, any[]> = { reader: [], slow: [], stuck: [] };
    let slowBusy = false;
    const closed: string[] = [];
    const sub = (name: string, busy: () => boolean): Subscriber => ({ send: (m) => got[name].push(m), busy, close: (reason) => closed.push(`${name}: ${reason}`) });
    try {
      hub.subscribe(d, 'class-a', sub('reader', () => false));
      hub.subscribe(d, 'class-a', sub('slow', () => slowBusy));
      hub.subscribe(d, 'class-a', sub('stuck', () => true));
      await new Promise((r) => setTimeout(r, 50));
      for (const name of ['reader', 'slow', 'stuck']) expect(got[name].map((m) => m.type)).toEqual(['snapshot']);
      slowBusy = true;
      for (let i = 1; i <= 3; i++) {
        await engine.ingest('batch', [keystroke('s-0000', i * 1000)]);
        await engine.flush();
        await new Promise((r) => setTimeout(r, d.minIntervalMs + 100));
      }
      // The reader saw every change; the busy ones were not queued anything.
      expect(got.reader.filter((m) => m.type === 'delta').length).toBeGreaterThanOrEqual(2);
      expect(got.slow).toHaveLength(1);
      expect(got.stuck).toHaveLength(1);
      slowBusy = false;
      await new Promise((r) => setTimeout(r, d.minIntervalMs + 200));
      const caughtUp = got.slow.at(-1);
      expect(caughtUp.type).toBe('snapshot');
      expect(caughtUp.rows.find((r: any) => r.member === 's-0000').events).toBe(3);
      expect(closed).toEqual([]);
      await new Promise((r) => setTimeout(r, 2000));
      expect(closed).toEqual([expect.stringMatching(/^stuck: not reading/)]);
      expect(got.stuck).toHaveLength(1);
    } finally {
      hub.close();
      await engine.stop();
    }
  });
});
