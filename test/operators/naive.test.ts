// Property tests: each operator, folded event by event, equals a naive recomputation over the whole history.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Operator, ReduceContext } from '../../engine/types.js';
import { count } from '../../operators/count.js';
import { histogram } from '../../operators/histogram.js';
import { rate } from '../../operators/rate.js';
import { streak } from '../../operators/streak.js';
import { pauses } from '../../operators/pauses.js';
import { revisions } from '../../operators/revisions.js';
import { timeOnTask } from '../../operators/time-on-task.js';
import { wordsPerMinute } from '../../operators/words-per-minute.js';
import { topK } from '../../operators/top-k.js';
import { lastN } from '../../operators/simple.js';
import { tumblingWindow } from '../../operators/tumbling-window.js';

function fold<S>(op: Operator<S>, raw: unknown, events: Array<Record<string, any>>) {
  const params = op.prepare ? op.prepare(raw) : raw;
  const emitted: any[] = [];
  let s = op.init(params);
  for (const e of events) s = op.reduce(s, e, { key: 'k', time: e.ts, emit: (x) => emitted.push(x), late: () => {} } as ReduceContext, params);
  return { view: (now: number) => (op.view ? op.view(s, params, now) : s), emitted };
}

/** Increasing timestamps from random gaps (0 to 10 s), with a value and a key per event. */
const history = fc.array(fc.record({ gap: fc.integer({ min: 0, max: 10_000 }), x: fc.integer({ min: -50, max: 150 }), k: fc.constantFrom('a', 'b', 'c', 'Backspace', ' ') }), { maxLength: 120 }).map((rows) => {
  let t = 1_000_000;
  return rows.map((r) => ({ ts: (t += r.gap), x: r.x, event: 'keystroke', keystroke: { key: r.k } }));
});
const gapsOf = (ev: Array<{ ts: number }>) => ev.slice(1).map((e, i) => e.ts - ev[i].ts);

describe('operators equal a naive recomputation (properties)', () => {
  it('count, histogram, last_n, top_k (exact when capacity holds every value)', () => {
    fc.assert(
      fc.property(history, (ev) => {
        expect(fold(count, {}, ev).view(0)).toBe(ev.length);
        const bounds = [0, 50, 100];
        const h = fold(histogram, { field: '$.x', bounds }, ev).view(0) as Array<{ count: number }>;
        expect(h.map((b) => b.count)).toEqual([ev.filter((e) => e.x < 0).length, ev.filter((e) => e.x >= 0 && e.x < 50).length, ev.filter((e) => e.x >= 50 && e.x < 100).length, ev.filter((e) => e.x >= 100).length]);
        expect(fold(lastN, { n: 5, field: '$.x' }, ev).view(0)).toEqual(ev.slice(-5).map((e) => e.x));
        const counts = new Map<string, number>();
        for (const e of ev) counts.set(e.keystroke.key, (counts.get(e.keystroke.key) ?? 0) + 1);
        const top = fold(topK, { field: '$.keystroke.key', k: 5, capacity: 5 }, ev).view(0) as Array<{ value: string; count: number; error: number }>;
        for (const t of top) expect(t.count).toBe(counts.get(t.value));
      }),
    );
  });

  it('time_on_task, streak and pauses from the gap list', () => {
    fc.assert(
      fc.property(history, (ev) => {
        const gaps = gapsOf(ev);
        const idle = 5000;
        const tot = fold(timeOnTask, { idle_after: idle }, ev).view(ev.at(-1)?.ts ?? 0) as any;
        if (ev.length) {
          expect(tot.active_ms).toBe(gaps.filter((g) => g < idle).reduce((a, b) => a + b, 0));
          expect(tot.sessions).toBe(1 + gaps.filter((g) => g >= idle).length);
        }
        const st = fold(streak, { gap: idle }, ev).view(0) as any;
        const runs: number[] = [];
        ev.forEach((_, i) => (i === 0 || gaps[i - 1] >= idle ? runs.push(1) : runs[runs.length - 1]++));
        expect(st.longest).toBe(runs.length ? Math.max(...runs) : 0);
        expect(st.current).toBe(runs.at(-1) ?? 0);
        const ps = fold(pauses, { threshold: idle }, ev).view(0) as any;
        expect(ps.bursts).toBe(runs.length);
        expect(ps.pauses).toBe(gaps.filter((g) => g >= idle).length);
      }),
    );
  });

  it('revisions, rate and words_per_minute', () => {
    fc.assert(
      fc.property(history, (ev) => {
        const rv = fold(revisions, { pause: 2000 }, ev).view(0) as any;
        const dels = ev.map((e, i) => ({ del: e.keystroke.key === 'Backspace', afterPause: i === 0 || e.ts - ev[i - 1].ts >= 2000 }));
        expect(rv.deleted_chars).toBe(dels.filter((d) => d.del).length);
        expect(rv.revisions).toBe(dels.filter((d) => d.del && d.afterPause).length);
        const now = ev.at(-1)?.ts ?? 0;
        // rate buckets are 5 s wide for a 5 m horizon: count events in buckets that overlap the horizon.
        const r = fold(rate, { horizon: '5m' }, ev).view(now) as any;
        expect(r.events).toBe(ev.filter((e) => Math.floor(e.ts / 5000) * 5000 + 5000 > now - 300_000).length);
        // words_per_minute: 1 s buckets for a 1 m window, counted when they overlap the last minute.
        const w = fold(wordsPerMinute, { window: '1m' }, ev).view(now) as any;
        const chars = ev.filter((e) => e.keystroke.key.length === 1 && Math.floor(e.ts / 1000) * 1000 + 1000 > now - 60_000).length;
        expect(w.wpm).toBe(Math.round((chars / 5) * 10) / 10);
        // Logged as the extension does (keydown, keypress for printable keys, keyup), every key counts once.
        const triples = ev.flatMap((e) =>
          (e.keystroke.key.length === 1 ? ['keydown', 'keypress', 'keyup'] : ['keydown', 'keyup']).map((type, j) => ({ ...e, ts: e.ts + j, keystroke: { ...e.keystroke, type } })),
        );
        expect(fold(wordsPerMinute, { window: '1m' }, triples).view(now)).toEqual(w);
        expect(fold(revisions, { pause: 2000 }, triples).view(0)).toEqual(rv);
      }),
    );
  });

  it('tumbling windows partition in-order events exactly (every event in exactly one emitted window)', () => {
    fc.assert(
      fc.property(history, (ev) => {
        const all = [...ev, { ts: (ev.at(-1)?.ts ?? 0) + 1_000_000, x: 0, event: 'keystroke', keystroke: { key: 'a' } }];
        const r = fold(tumblingWindow, { size: '7s' }, all);
        expect(r.emitted.reduce((s, w) => s + w.count, 0)).toBe(ev.length);
        for (const w of r.emitted) expect(w.count).toBe(ev.filter((e) => e.ts >= w.window_start && e.ts < w.window_end).length);
      }),
    );
  });
});
