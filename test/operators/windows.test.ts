// Event-time windows with allowed lateness: known answers, and sessions equal a naive sessionisation of the
// sorted event times whenever disorder stays within the allowed lateness.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LoEvent, Operator, ReduceContext } from '../../engine/types.js';
import { sessionWindow } from '../../operators/session-window.js';
import { tumblingWindow } from '../../operators/tumbling-window.js';
import { slidingWindow } from '../../operators/sliding-window.js';
import { countTrueAgg } from '../../operators/aggregators/count-true.js';

function run<S>(op: Operator<S>, raw: unknown, events: LoEvent[]) {
  const params = op.prepare ? op.prepare(raw) : raw;
  const emitted: any[] = [];
  const late: any[] = [];
  let state = op.init(params);
  for (const e of events) state = op.reduce(state, e, { key: 'k', time: e.ts, emit: (x) => emitted.push(x), late: (x) => late.push(x) } as ReduceContext, params);
  return { state, emitted, late, view: () => (op.view ? op.view(state, params, 0) : state) };
}
const at = (...ts: number[]) => ts.map((t) => ({ ts: t, x: t / 100 }));

describe('session_window with allowed lateness', () => {
  it('keeps a session open until the watermark passes its end + gap, so a late event still joins it', () => {
    // gap 2 s, lateness 3 s: 4000 starts a new session but [0, 1000] stays open (watermark 1000 < 3000);
    // 1500 joins it; 5500 and 6500 extend the newer session, and 6500 moves the watermark to 3500, closing [0, 1500].
    const r = run(sessionWindow, { gap: '2s', allowed_lateness: '3s', field: '$.x' }, at(0, 1000, 4000, 1500, 5500, 6500));
    expect(r.emitted).toEqual([{ key: 'k', window_start: 0, window_end: 1500, count: 3, duration_ms: 1500, sum: 25, mean: 25 / 3 }]);
    expect(r.late).toEqual([]);
    expect(r.view()).toEqual({ closed: 1, open: { window_start: 4000, window_end: 6500, count: 3 } });
  });
  it('merges two open sessions that a late event bridges', () => {
    const r = run(sessionWindow, { gap: '2s', allowed_lateness: '5s' }, at(0, 3000, 1500, 20_000));
    expect(r.emitted.map((w) => [w.window_start, w.window_end, w.count])).toEqual([[0, 3000, 3]]);
  });
  it('sends an event to `late` when its session would already have closed', () => {
    const r = run(sessionWindow, { gap: '2s', allowed_lateness: '1s' }, at(0, 5000, 9000, 1000));
    expect(r.emitted.map((w) => [w.window_start, w.count])).toEqual([[0, 1], [5000, 1]]);
    expect(r.late).toEqual([{ ts: 1000, x: 10 }]);
  });
  it('equals a naive sessionisation of the sorted times when disorder stays within the lateness (property)', () => {
    const gap = 2000;
    const lateness = 3000;
    fc.assert(
      fc.property(fc.array(fc.record({ step: fc.integer({ min: 0, max: 4000 }), back: fc.integer({ min: 0, max: lateness }) }), { maxLength: 80 }), (rows) => {
        let high = 10_000;
        const times = rows.map((r) => {
          high += r.step;
          return high - r.back; // at most `lateness` behind the newest event: never late
        });
        const r = run(sessionWindow, { gap: '2s', allowed_lateness: '3s' }, times.map((t) => ({ ts: t })));
        expect(r.late).toEqual([]);
        // Naive: sort, split where consecutive times are >= gap apart.
        const sorted = [...times].sort((a, b) => a - b);
        const naive: Array<[number, number, number]> = [];
        for (const t of sorted) {
          const lastRun = naive[naive.length - 1];
          if (lastRun && t - lastRun[1] < gap) {
            lastRun[1] = t;
            lastRun[2]++;
          } else naive.push([t, t, 1]);
        }
        const s = r.state as any;
        const open = [...(s.earlier ?? []), ...(s.start === null ? [] : [[s.start, s.end, s.count]])].map((x: number[]) => [x[0], x[1], x[2]]);
        const got = [...r.emitted.map((w) => [w.window_start, w.window_end, w.count]), ...open].sort((a, b) => a[0] - b[0]);
        expect(got).toEqual(naive);
        // Emitted sessions come out in time order and are closed for good: the watermark passed end + gap.
        const starts = r.emitted.map((w) => w.window_start);
        expect(starts).toEqual([...starts].sort((a, b) => a - b));
      }),
    );
  });
});

describe('tumbling and sliding windows', () => {
  it('emit duration_ms, sum and mean of the field', () => {
    const r = run(tumblingWindow, { size: '1s', field: '$.x' }, at(100, 900, 2100));
    expect(r.emitted).toEqual([{ key: 'k', window_start: 0, window_end: 1000, count: 2, duration_ms: 1000, sum: 10, mean: 5 }]);
    const s = run(slidingWindow, { size: '2s', every: '1s' }, at(500, 1500, 4000));
    expect(s.emitted.map((w) => [w.window_start, w.window_end, w.count, w.duration_ms])).toEqual([
      [-1000, 1000, 1, 2000],
      [0, 2000, 2, 2000],
      [1000, 3000, 1, 2000],
    ]);
  });
});

describe('count_true', () => {
  it('counts the members whose value is truthy', () => {
    expect(countTrueAgg.aggregate([true, false, true, null, 0, 3, '', 'x'], {})).toBe(4);
    expect(countTrueAgg.aggregate([], {})).toBe(0);
  });
});
