// T11 with exchange edges (docs/scale-out.md §6): the example's student → class cascade through 1, 4 and 16
// partition tasks in one process (memory store) gives equal class-keyed results for random events, batch and
// request sizes: `class_events` (count of raw events re-keyed by class) exactly, `class_bursts` (stats over
// re-keyed `burst` events) by count, sum, min and max (Welford's mean depends on order: float rounding).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine } from '../../engine/runtime.js';
import type { LoEvent } from '../../engine/types.js';
import { exchangeDemo } from '../cluster/exchange-fixture.js';

const learnerEvent = fc.record({
  student: fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `s-${String(i).padStart(4, '0')}`)),
  kind: fc.constantFrom('keystroke', 'visibility'),
  gap: fc.integer({ min: 0, max: 4000 }),
});

describe('exchange edges: P = 1, 4, 16 give equal class-keyed results (property)', () => {
  it('for random events, batch sizes and request sizes', async () => {
    const pipelines = await Promise.all([1, 4, 16].map(async (n) => (await exchangeDemo('prop-exchange', n)).pipeline));
    await fc.assert(
      fc.asyncProperty(fc.array(learnerEvent, { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 25 }), async (raw, batchSize, request) => {
        let t = Date.UTC(2026, 0, 1);
        const events: LoEvent[] = raw.map((r) => {
          t += r.gap;
          const base = { event: r.kind, ts: t, auth: { user_id: r.student } };
          return r.kind === 'keystroke' ? { ...base, keystroke: { key: 'a', type: 'keydown' } } : base;
        });
        const outcomes = [];
        for (const pipeline of pipelines) {
          const engine = new Engine(pipeline, { batchSize });
          for (let i = 0; i < events.length; i += request) await engine.ingest('extension', structuredClone(events.slice(i, i + request)));
          await engine.flush();
          const { reducers } = engine.results() as { reducers: Record<string, Record<string, Record<string, number>>> };
          await engine.stop();
          const bursts = Object.fromEntries(Object.entries(reducers.class_bursts ?? {}).map(([k, s]) => [k, [s.n, s.sum, s.min, s.max]]));
          outcomes.push({ events: reducers.class_events, bursts, perStudent: reducers.burst_stats });
        }
        expect(Object.keys(outcomes[0].events ?? {}).length).toBeGreaterThan(0);
        expect(outcomes[1]).toEqual(outcomes[0]);
        expect(outcomes[2]).toEqual(outcomes[0]);
      }),
      { numRuns: 30 },
    );
  }, 300_000);
});
