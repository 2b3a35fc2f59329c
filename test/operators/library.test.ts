import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Operator, ReduceContext } from '../../engine/types.js';
import { first, last, lastN, max, min, sum } from '../../operators/simple.js';
import { distinct, HLL_STANDARD_ERROR } from '../../operators/distinct.js';
import { topK } from '../../operators/top-k.js';
import { histogram } from '../../operators/histogram.js';
import { rate } from '../../operators/rate.js';
import { streak } from '../../operators/streak.js';
import { tumblingWindow } from '../../operators/tumbling-window.js';
import { slidingWindow } from '../../operators/sliding-window.js';
import { pauses } from '../../operators/pauses.js';
import { revisions } from '../../operators/revisions.js';
import { sortedAgg, flaggedAgg } from '../../operators/aggregators/lists.js';

function run<S>(op: Operator<S>, raw: unknown, events: Array<Record<string, any>>) {
  const params = op.prepare ? op.prepare(raw) : raw;
  const emitted: any[] = [];
  const late: any[] = [];
  let state = op.init(params);
  for (const e of events) state = op.reduce(state, e, { key: 'k', time: e.ts ?? 0, emit: (x) => emitted.push(x), late: (x) => late.push(x) } as ReduceContext, params);
  return { state, params, emitted, late, view: (now = 0) => (op.view ? op.view(state, params, now) : state) };
}
const xs = (values: number[]) => values.map((x, i) => ({ x, ts: i * 1000 }));

describe('simple reducers', () => {
  it('sum, min, max, first, last, last_n with known answers', () => {
    const ev = xs([3, -1, 7, 2]);
    expect(run(sum, { field: '$.x' }, ev).view()).toBe(11);
    expect(run(min, { field: '$.x' }, ev).view()).toBe(-1);
    expect(run(max, { field: '$.x' }, ev).view()).toBe(7);
    expect(run(first, { field: '$.x' }, ev).view()).toBe(3);
    expect(run(last, { field: '$.x' }, ev).view()).toBe(2);
    expect(run(lastN, { n: 2, field: '$.x' }, ev).view()).toEqual([7, 2]);
    expect(run(min, { field: '$.x' }, [{ y: 1 }]).view()).toBe(null);
  });
  it('merge of two halves equals folding the whole (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 })), fc.array(fc.integer({ min: -1000, max: 1000 })), (a, b) => {
        for (const op of [sum, min, max, first, last] as Operator[]) {
          const ea = xs(a);
          const eb = xs(b).map((e) => ({ ...e, ts: e.ts + a.length * 1000 }));
          const whole = run(op, { field: '$.x' }, [...ea, ...eb]);
          const merged = op.merge!(run(op, { field: '$.x' }, ea).state, run(op, { field: '$.x' }, eb).state, whole.params);
          expect(op.view ? op.view(merged, whole.params, 0) : merged).toEqual(whole.view());
        }
      }),
    );
  });
});

describe('distinct', () => {
  it('is exact up to the bound, then estimates within a few standard errors', () => {
    expect(run(distinct, { field: '$.v' }, ['a', 'b', 'a', 'c'].map((v) => ({ v }))).view()).toEqual({ count: 3, exact: true });
    const n = 20000;
    const v = run(distinct, { field: '$.v', exact_up_to: 100 }, Array.from({ length: n }, (_, i) => ({ v: `user-${i % 10000}` }))).view() as any;
    expect(v.exact).toBe(false);
    expect(Math.abs(v.count - 10000) / 10000).toBeLessThan(4 * HLL_STANDARD_ERROR);
  });
  it('merge equals the union (property, exact range)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 })), fc.array(fc.integer({ min: 0, max: 50 })), (a, b) => {
        const p = distinct.prepare!({ field: '$.v' });
        const sa = run(distinct, { field: '$.v' }, a.map((v) => ({ v }))).state;
        const sb = run(distinct, { field: '$.v' }, b.map((v) => ({ v }))).state;
        expect((distinct.view!(distinct.merge!(sa, sb, p), p, 0) as any).count).toBe(new Set([...a, ...b]).size);
      }),
    );
  });
});

describe('top_k', () => {
  it('finds the heavy hitters with counts that never underestimate', () => {
    const events = [...'aaaaabbbbcccdde'.split(''), ...'xyzwvu'.split('')].map((v) => ({ v }));
    const top = run(topK, { field: '$.v', k: 3, capacity: 6 }, events).view() as any[];
    expect(top.map((t) => t.value)).toEqual(['a', 'b', 'c']);
    expect(top[0].count).toBeGreaterThanOrEqual(5);
    expect(top[0].count - top[0].error).toBeLessThanOrEqual(5);
  });
});

describe('histogram', () => {
  it('counts values per bucket and refuses unsorted bounds', () => {
    expect(run(histogram, { field: '$.x', bounds: [0, 5, 10] }, xs([-1, 0, 4, 5, 9, 10, 100])).view()).toEqual([
      { lt: 0, count: 1 }, { lt: 5, count: 2 }, { lt: 10, count: 2 }, { lt: null, count: 2 },
    ]);
    expect(() => histogram.prepare!({ field: '$.x', bounds: [5, 1] })).toThrow(/strictly increasing/);
  });
});

describe('rate and streak', () => {
  it('rate: events per minute over the horizon', () => {
    const events = Array.from({ length: 30 }, (_, i) => ({ ts: 600_000 + i * 10_000 })); // 30 events over 5 minutes
    expect(run(rate, { horizon: '5m' }, events).view(600_000 + 290_000)).toEqual({ per_minute: 6, events: 30 });
  });
  it('streak: runs broken by gaps of at least `gap`, with gap statistics', () => {
    const ts = [0, 10, 20, 5000, 5010, 5020, 5030, 20000];
    expect(run(streak, { gap: '1s' }, ts.map((t) => ({ ts: t }))).view()).toEqual({ current: 1, longest: 4, gaps: 2, mean_gap_ms: (4980 + 14970) / 2, max_gap_ms: 14970 });
  });
});

describe('windows', () => {
  it('tumbling: emits each window once the watermark passes it; late events go to the side stream', () => {
    const ts = [0, 500, 1500, 2500, 900, 3100];
    const r = run(tumblingWindow, { size: '1s', field: '$.x' }, ts.map((t) => ({ ts: t, x: 1 })));
    expect(r.emitted.map((w) => [w.window_start, w.count])).toEqual([[0, 2], [1000, 1], [2000, 1]]);
    expect(r.late).toEqual([{ ts: 900, x: 1 }]);
  });
  it('tumbling with allowed lateness keeps a window open for late events', () => {
    const r = run(tumblingWindow, { size: '1s', allowed_lateness: '1s' }, [0, 1500, 900, 2600].map((t) => ({ ts: t })));
    expect(r.emitted.map((w) => [w.window_start, w.count])).toEqual([[0, 2]]);
    expect(r.late).toEqual([]);
  });
  it('sliding: each event counts in size/every windows (property: total = events × size/every once all close)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 100 }), (gaps) => {
        let t = 10_000;
        const events = gaps.map((g) => ({ ts: (t += g) }));
        events.push({ ts: t + 100_000 }); // flushes every window of the real events
        const r = run(slidingWindow, { size: '4s', every: '1s' }, events);
        expect(r.emitted.reduce((s, w) => s + w.count, 0)).toBe((events.length - 1) * 4);
        expect(r.late).toEqual([]);
      }),
    );
  });
});

describe('writing process', () => {
  const key = (ts: number, k = 'a') => ({ event: 'keystroke', ts, keystroke: { key: k } });
  it('pauses: P-bursts between pauses of at least the threshold', () => {
    const r = run(pauses, { threshold: '2s' }, [0, 100, 200, 3000, 3100, 9000].map((t) => key(t)));
    expect(r.view()).toEqual({ bursts: 3, mean_burst_len: 2, pauses: 2, mean_pause_ms: (2800 + 5900) / 2 });
    // The extension's keydown/keypress/keyup of each key count as one key, and the pause runs keydown to keydown.
    const triples = [0, 100, 200, 3000, 3100, 9000].flatMap((t) => ['keydown', 'keypress', 'keyup'].map((type, j) => ({ ...key(t + j * 20), keystroke: { key: 'a', type } })));
    expect(run(pauses, { threshold: '2s' }, triples).view()).toEqual(r.view());
  });
  it('revisions: deletions after a pause, not typo fixes inside a burst', () => {
    const r = run(revisions, { pause: '2s' }, [key(0), key(100, 'Backspace'), key(200), key(5000, 'Backspace'), key(5100, 'Backspace'),
      { event: 'google_docs_save', ts: 9000, bundles: [{ commands: [{ ty: 'mlti', mts: [{ ty: 'ds', si: 3, ei: 7 }] }] }] }]);
    expect(r.view()).toEqual({ revisions: 2, deleted_chars: 8 });
  });
});

describe('list aggregators', () => {
  const rows = [{ member: 'a', wpm: 20, idle: false }, { member: 'b', wpm: 5, idle: true }, { member: 'c', idle: true }, { member: 'd', wpm: 12, idle: false }];
  it('sorted lists members by a column; flagged lists the members that pass `where`', () => {
    expect(sortedAgg.aggregate(rows, { by: 'wpm', order: 'asc', limit: 2 })).toEqual([{ member: 'b', value: 5 }, { member: 'd', value: 12 }]);
    expect(flaggedAgg.aggregate(rows.filter((r) => r.idle), {})).toEqual(['b', 'c']);
  });
});
