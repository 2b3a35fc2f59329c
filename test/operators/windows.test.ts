// Lateness in the windowed operators (tumbling_window, sliding_window, session_window), one semantics for all
// (operators/window-core.ts): the key's watermark is its newest event time minus allowed_lateness; a window is
// emitted once the watermark reaches its end (sessions: last event + gap); an event is late only when it falls
// before the end of an emitted window, and a late event counts nowhere.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LoEvent, Operator, ReduceContext } from '../../engine/types.js';
import { sessionWindow, type SessionState } from '../../operators/session-window.js';
import { tumblingWindow } from '../../operators/tumbling-window.js';
import { slidingWindow } from '../../operators/sliding-window.js';

function run(op: Operator, raw: unknown, times: number[], through = (s: any) => s) {
  const params = op.prepare ? op.prepare(raw) : raw;
  const emitted: any[] = [];
  const late: number[] = [];
  let s = op.init(params);
  for (const [i, t] of times.entries()) {
    const ctx: ReduceContext = { key: 'k', time: t, emit: (x) => emitted.push(x), late: (e) => late.push(e.ts) };
    s = op.reduce(through(s), { ts: t, x: i + 1 } as LoEvent, ctx, params);
  }
  const view = op.view!(s, params, 0) as any;
  // Sessions show the newest open session and the earlier ones still held; windows show a list.
  const open: any[] = Array.isArray(view.open) ? view.open : [...(view.held ?? []), ...(view.open ? [view.open] : [])];
  return { emitted, late, view, open, state: s };
}
const spans = (ws: any[]) => ws.map((w) => [w.window_start, w.window_end, w.count]);

describe('session_window: allowed_lateness holds sessions open', () => {
  const times = [0, 1000, 4500, 2600, 9000, 20000];
  it('without lateness, a pause closes the session at once and an event arriving after that is late', () => {
    const r = run(sessionWindow, { gap: '2s' }, times);
    expect(spans(r.emitted)).toEqual([[0, 1000, 2], [4500, 4500, 1], [9000, 9000, 1]]);
    expect(r.late).toEqual([2600]);
  });
  it('with lateness, the late event joins the sessions still open and bridges two of them (they merge)', () => {
    const r = run(sessionWindow, { gap: '2s', allowed_lateness: '3s', field: '$.x' }, times);
    // 9000 moves the watermark to 6000 only: [0..4500] (closes at 6500) stays open until 20000 arrives.
    expect(r.emitted).toEqual([
      { key: 'k', window_start: 0, window_end: 4500, count: 4, duration_ms: 4500, sum: 1 + 2 + 3 + 4 },
      { key: 'k', window_start: 9000, window_end: 9000, count: 1, duration_ms: 0, sum: 5 },
    ]);
    expect(r.late).toEqual([]);
    expect(r.view).toEqual({ closed: 2, open: { window_start: 20000, window_end: 20000, count: 1 }, held: [] });
  });
  it('a pause of exactly gap separates sessions, and a watermark exactly at last event + gap emits', () => {
    const r = run(sessionWindow, { gap: '2s' }, [0, 2000, 3999, 5998, 7998]);
    expect(spans(r.emitted)).toEqual([[0, 0, 1], [2000, 5998, 3]]);
    expect(r.open.map((o) => [o.window_start, o.window_end, o.count])).toEqual([[7998, 7998, 1]]);
  });
  it('shows the newest open session and the earlier ones held open while the watermark has not passed them', () => {
    const r = run(sessionWindow, { gap: '2s', allowed_lateness: '10s' }, [0, 5000, 9000, 9500]);
    expect(r.emitted).toEqual([]);
    expect(r.open.map((o) => [o.window_start, o.window_end, o.count])).toEqual([[0, 0, 1], [5000, 5000, 1], [9000, 9500, 2]]);
    expect(r.view).toEqual({
      closed: 0,
      open: { window_start: 9000, window_end: 9500, count: 2 },
      held: [{ window_start: 0, window_end: 0, count: 1 }, { window_start: 5000, window_end: 5000, count: 1 }],
    });
  });
  it('an event behind the watermark that touches no emitted session forms its own, emitted at once; later ones that touch it are late', () => {
    const r = run(sessionWindow, { gap: '2s' }, [0, 10000, 5000, 6000, 1500, 8500]);
    expect(spans(r.emitted)).toEqual([[0, 0, 1], [5000, 5000, 1]]);
    expect(r.late).toEqual([6000, 1500]); // 6000 would join [5000], 1500 would join [0]
    expect(r.open.map((o) => [o.window_start, o.window_end, o.count])).toEqual([[8500, 10000, 2]]);
  });
  it('continues a state stored before sessions could be held open (no held, no closed_until)', () => {
    const params = sessionWindow.prepare!({ gap: '2s' });
    const old = { start: 0, end: 1000, count: 2, sum: 0, closed: 3, max_seen: 1000 } as unknown as SessionState;
    const emitted: any[] = [];
    const ctx: ReduceContext = { key: 'k', time: 1500, emit: (x) => emitted.push(x), late() {} };
    let s = sessionWindow.reduce(old, { ts: 1500 }, ctx, params);
    s = sessionWindow.reduce(s, { ts: 9000 }, { ...ctx, time: 9000 }, params);
    expect(spans(emitted)).toEqual([[0, 1500, 3]]);
    expect(sessionWindow.view!(s, params, 0)).toEqual({ closed: 4, open: { window_start: 9000, window_end: 9000, count: 1 } });
    expect(s).toEqual({ start: 9000, end: 9000, count: 1, sum: 0, held: [], closed: 4, max_seen: 9000, closed_until: 3500 });
  });
});

describe('tumbling and sliding windows: the same lateness', () => {
  it('tumbling: an event behind the watermark still counts while its window is open', () => {
    const r = run(tumblingWindow, { size: '1s' }, [0, 1500, 1200, 2100, 1900, 3000]);
    expect(spans(r.emitted)).toEqual([[0, 1000, 1], [1000, 2000, 2], [2000, 3000, 1]]);
    expect(r.late).toEqual([1900]);
  });
  it('sliding: an event that falls in an emitted window is late as a whole, not counted in its open windows', () => {
    const r = run(slidingWindow, { size: '4s', every: '2s' }, [1000, 6500, 3500, 20000]);
    // 6500 emits [-2000, 2000) and [0, 4000); 3500 falls in [0, 4000) (emitted) and [2000, 6000) (open).
    expect(r.late).toEqual([3500]);
    expect(spans(r.emitted)).toEqual([[-2000, 2000, 1], [0, 4000, 1], [4000, 8000, 1], [6000, 10000, 1]]);
  });
  it('sliding with allowed lateness counts that event in both', () => {
    const r = run(slidingWindow, { size: '4s', every: '2s', allowed_lateness: '3s' }, [1000, 6500, 3500, 20000]);
    expect(r.late).toEqual([]);
    expect(spans(r.emitted)).toEqual([[-2000, 2000, 1], [0, 4000, 2], [2000, 6000, 1], [4000, 8000, 1], [6000, 10000, 1]]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties against naive recomputations from the whole history
// ---------------------------------------------------------------------------------------------------------

/** Sessions of a set of times, computed in one pass over them sorted: split at pauses of at least gap. */
function batchSessions(times: number[], gap: number) {
  const out: Array<{ start: number; end: number; count: number }> = [];
  for (const t of [...times].sort((a, b) => a - b)) {
    const last = out.at(-1);
    if (last && t - last.end < gap) {
      last.end = t;
      last.count++;
    } else out.push({ start: t, end: t, count: 1 });
  }
  return out;
}

/** Windows [start, start + size) with starts aligned to every, of a set of times. */
function batchWindows(times: number[], size: number, every: number) {
  const counts = new Map<number, number>();
  for (const t of times) for (let s = Math.floor(t / every) * every; s > t - size; s -= every) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].sort((a, b) => a[0] - b[0]).map(([start, count]) => ({ start, end: start + size, count }));
}

/**
 * The lateness rule restated naively: before each event, recompute every window of the events accepted so far,
 * emit those whose close point the watermark has reached, and call an event late when it is earlier than the
 * latest close point emitted. `windows` gives each window's close point as `closes`.
 */
function naive(times: number[], lateness: number, windows: (ts: number[]) => Array<{ start: number; end: number; count: number; closes: number }>) {
  const accepted: number[] = [];
  const late: number[] = [];
  const emitted: Array<{ start: number; end: number; count: number }> = [];
  const done = new Set<string>();
  let closedUntil = -Infinity;
  for (const t of times) {
    if (t < closedUntil) {
      late.push(t);
      continue;
    }
    accepted.push(t);
    const watermark = Math.max(...accepted) - lateness;
    for (const w of windows(accepted)) {
      const id = `${w.start}/${w.end}/${w.count}`;
      if (w.closes <= watermark && !done.has(id)) {
        done.add(id);
        emitted.push({ start: w.start, end: w.end, count: w.count });
        closedUntil = Math.max(closedUntil, w.closes);
      }
    }
  }
  const open = windows(accepted).filter((w) => !done.has(`${w.start}/${w.end}/${w.count}`));
  return { accepted, late, emitted, open };
}

// Times are multiples of 250 ms so that boundaries (a pause of exactly gap, a watermark exactly at a window's
// end) come up often.
const ms = (max: number) => fc.integer({ min: 0, max: max / 250 }).map((n) => n * 250);
/** Event times: mostly increasing, each at most `disorder` behind the newest before it (0 to 8 s apart). */
const timesWithin = (disorder: number) =>
  fc.array(fc.record({ gap: ms(8000), back: ms(disorder) }), { maxLength: 60 }).map((rows) => {
    let base = 100_000;
    return rows.map((r) => (base += r.gap) - r.back);
  });
/** Any order at all: random times within a minute. */
const anyTimes = fc.array(ms(60_000), { maxLength: 50 });
const flush = (times: number[]) => [...times, Math.max(0, ...times) + 1_000_000];

const ops = [
  { name: 'session_window', op: sessionWindow, params: (l: number) => ({ gap: 2000, allowed_lateness: l }), batch: (ts: number[]) => batchSessions(ts, 2000).map((s) => ({ ...s, closes: s.end + 2000 })) },
  { name: 'tumbling_window', op: tumblingWindow, params: (l: number) => ({ size: 5000, allowed_lateness: l }), batch: (ts: number[]) => batchWindows(ts, 5000, 5000).map((w) => ({ ...w, closes: w.end })) },
  { name: 'sliding_window', op: slidingWindow, params: (l: number) => ({ size: 6000, every: 2000, allowed_lateness: l }), batch: (ts: number[]) => batchWindows(ts, 6000, 2000).map((w) => ({ ...w, closes: w.end })) },
];
const asSpans = (ws: any[]) => ws.map((w) => ({ start: w.window_start, end: w.window_end, count: w.count }));

for (const { name, op, params, batch } of ops) {
  describe(`${name}: lateness properties`, () => {
    it('events at most allowed_lateness out of order are never late, and the result equals the batch computation', () => {
      fc.assert(
        fc.property(ms(10_000).chain((l) => fc.tuple(fc.constant(l), timesWithin(l))), ([lateness, times]) => {
          const r = run(op, params(lateness), flush(times));
          expect(r.late).toEqual([]);
          expect(asSpans(r.emitted)).toEqual(batch(times).map(({ start, end, count }) => ({ start, end, count })));
        }),
        { numRuns: 150 },
      );
    });

    it('in any order: emitted windows, late events and open windows equal the naive recomputation; nothing is lost', () => {
      fc.assert(
        fc.property(anyTimes, fc.constantFrom(0, 1000, 5000, 20_000), (times, lateness) => {
          const r = run(op, params(lateness), times, (s) => JSON.parse(JSON.stringify(s)));
          const n = naive(times, lateness, batch);
          expect(r.late).toEqual(n.late);
          expect(asSpans(r.emitted)).toEqual(n.emitted);
          expect(asSpans(r.open)).toEqual(n.open.map(({ start, end, count }) => ({ start, end, count })));
          // Every event is late or counted: sessions and tumbling windows hold each accepted event once.
          if (name !== 'sliding_window') {
            const counted = [...r.emitted, ...r.open].reduce((s, w) => s + w.count, 0);
            expect(counted + r.late.length).toBe(times.length);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
}
