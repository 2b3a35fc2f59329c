// The ws10k workload at a small size against a real `loflow serve` (dist/ build): every student socket is
// held, and at 1 and 10 events/s per socket every event sent is accounted for by the server's /metrics
// (none behind after a phase, 0 dead-lettered, 0 dropped over the run), with latency, loop delay and RSS
// reported. Speed is not asserted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../../bench/types.js';
import { ws10k } from '../../bench/ws10k.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-ws10k-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ws10k', () => {
  it('holds 200 student sockets and 100 subscribers, and counts every event sent as processed', async () => {
    process.env.LOFLOW_LOG_LEVEL ??= 'warn';
    const ctx: Ctx = { quick: true, dir, figures: [], series: [], profiles: [], log: () => {}, options: { sockets: '200' } };
    await ws10k.run(ctx);
    const held = ctx.figures.find((f) => f.name.startsWith('student sockets held open'))!;
    expect(held.value).toBe(201);
    expect(held.met).toBe(true);
    expect(held.note).toMatch(/open-file limit \d+ \(server\), \d+ \(client\)/);
    const phases = ctx.figures.filter((f) => f.name.includes('events processed'));
    expect(phases.map((f) => f.name.match(/at ([\d.]+) events\/s each/)![1])).toEqual(['1', '10']);
    for (const p of phases) {
      expect(p.note).toMatch(/; 0 dead-lettered of [\d,]+, 0 sent in the run not yet accepted /);
      expect(p.note).toMatch(/p50 \d+ ms p99 \d+ ms \([1-9]\d* probes/);
      expect(p.note).toMatch(/server RSS [1-9]\d* MiB/);
    }
    // Nothing lost over the whole run: every event sent is accepted or refused after the final drain.
    const dropped = ctx.figures.find((f) => f.name.startsWith('events dropped over the whole run'))!;
    expect(dropped.value).toBe(0);
    expect(dropped.met).toBe(true);
    expect(dropped.note).toMatch(/^([\d,]+) sent over 2 phases, \1 accepted or refused/);
    expect(ctx.figures.some((f) => f.name.startsWith('sockets closed by the server'))).toBe(false);
    expect(ctx.profiles).toHaveLength(1);
  }, 180_000);
});
