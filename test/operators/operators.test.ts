import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Classroom } from '../../engine/classroom.js';
import type { Operator, ReduceContext } from '../../engine/types.js';
import { stats } from '../../operators/stats.js';
import { timeOnTask } from '../../operators/time-on-task.js';
import { sessionWindow } from '../../operators/session-window.js';
import { reconstructText, PLACEHOLDER } from '../../operators/reconstruct-text.js';
import { wordsPerMinute } from '../../operators/words-per-minute.js';
import { meanAgg, percentileAgg, medianAgg } from '../../operators/aggregators/numeric.js';

/** Fold events through an operator as the runtime does; returns state, emitted and late events. */
function run<S>(op: Operator<S>, rawParams: unknown, events: Array<Record<string, any>>) {
  const params = op.prepare ? op.prepare(rawParams) : rawParams;
  const emitted: unknown[] = [];
  const late: unknown[] = [];
  let state = op.init(params);
  for (const e of events) {
    const ctx: ReduceContext = { key: 'k', time: e.ts ?? 0, emit: (x) => emitted.push(x), late: (x) => late.push(x) };
    state = op.reduce(state, e, ctx, params);
  }
  return { state, params, emitted, late, view: (now = 0) => (op.view ? op.view(state, params, now) : state) };
}

describe('stats', () => {
  it('gives hand-computed moments', () => {
    const r = run(stats, { field: '$.x' }, [{ x: 2 }, { x: 4 }, { x: 4 }, { x: 4 }, { x: 5 }, { x: 5 }, { x: 7 }, { x: 9 }, { y: 1 }]);
    expect(r.view()).toEqual({ count: 8, sum: 40, mean: 5, variance: 32 / 7, stddev: Math.sqrt(32 / 7), min: 2, max: 9 });
  });
  it('equals a naive recomputation, and merge equals folding the concatenation (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true })), fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true })), (a, b) => {
        const all = [...a, ...b];
        const v = run(stats, { field: '$.x' }, all.map((x) => ({ x }))).view() as any;
        const mean = all.reduce((s, x) => s + x, 0) / (all.length || 1);
        const variance = all.length > 1 ? all.reduce((s, x) => s + (x - mean) ** 2, 0) / (all.length - 1) : 0;
        expect(v.count).toBe(all.length);
        if (all.length) expect(v.mean).toBeCloseTo(mean, 3);
        expect(v.variance).toBeCloseTo(variance, Math.max(0, 3 - Math.log10(1 + variance)));
        const ra = run(stats, { field: '$.x' }, a.map((x) => ({ x })));
        const rb = run(stats, { field: '$.x' }, b.map((x) => ({ x })));
        const merged = stats.view!(stats.merge!(ra.state, rb.state, ra.params), ra.params, 0) as any;
        expect(merged.count).toBe(v.count);
        if (all.length) expect(merged.mean).toBeCloseTo(v.mean, 3);
      }),
    );
  });
});

describe('time_on_task', () => {
  it('counts gaps shorter than idle_after and flags idleness against the clock', () => {
    const r = run(timeOnTask, { idle_after: '5m' }, [{ ts: 0 }, { ts: 60_000 }, { ts: 120_000 }, { ts: 1_000_000 }, { ts: 1_030_000 }]);
    expect(r.view(1_030_000 + 299_999)).toMatchObject({ active_ms: 150_000, sessions: 2, idle: false });
    expect(r.view(1_030_000 + 300_000)).toMatchObject({ idle: true });
  });
});

describe('session_window', () => {
  it('emits each burst when a pause of at least `gap` closes it; late events go to the side stream', () => {
    const ts = [0, 500, 1000, 4000, 4100, 9000, 100];
    const r = run(sessionWindow, { gap: '2s' }, ts.map((t) => ({ ts: t })));
    expect(r.emitted).toEqual([
      { key: 'k', window_start: 0, window_end: 1000, count: 3, duration_ms: 1000, sum: 0 },
      { key: 'k', window_start: 4000, window_end: 4100, count: 2, duration_ms: 100, sum: 0 },
    ]);
    expect(r.late).toEqual([{ ts: 100 }]);
    expect(r.view()).toEqual({ closed: 2, open: { window_start: 9000, window_end: 9000, count: 1 } });
  });
  it('accounts for every in-order event exactly once (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 200 }), (gaps) => {
        let t = 0;
        const events = gaps.map((g) => ({ ts: (t += g) }));
        const r = run(sessionWindow, { gap: '2s' }, events);
        const open = (r.view() as any).open?.count ?? 0;
        const closed = (r.emitted as any[]).reduce((s, w) => s + w.count, 0);
        expect(closed + open).toBe(events.length);
        // Naive recomputation: number of sessions = 1 + number of gaps >= 2 s.
        const sessions = events.length ? 1 + gaps.slice(1).filter((g) => g >= 2000).length : 0;
        expect(r.emitted.length + (open ? 1 : 0)).toBe(sessions);
      }),
    );
  });
});

describe('reconstruct_text', () => {
  const save = (...commands: unknown[]) => ({ event: 'google_docs_save', bundles: [{ commands }] });
  it('applies is, ds, mlti, rvrt and ignores formatting', () => {
    const r = run(reconstructText, { include_text: true }, [
      save({ ty: 'is', ibi: 1, s: 'Hello world' }),
      save({ ty: 'mlti', mts: [{ ty: 'ds', si: 6, ei: 11 }, { ty: 'is', ibi: 6, s: ', there' }] }),
      save({ ty: 'as', st: 'text', si: 1, ei: 3 }),
      save({ ty: 'rvrt', snapshot: [[{ ty: 'is', ibi: 1, s: 'Reverted text' }]] }),
      save({ ty: 'is', ibi: 14, s: '!' }),
    ]);
    expect(r.view()).toEqual({ length: 14, words: 2, padded: 0, edits: 5, text: 'Reverted text!' });
  });
  it('pads an edit beyond the end (logging began mid-document) and counts the padding', () => {
    const r = run(reconstructText, { include_text: true }, [save({ ty: 'is', ibi: 4, s: 'x' })]);
    expect(r.view()).toMatchObject({ text: `${PLACEHOLDER.repeat(3)}x`, padded: 3 });
  });
  it('throws a clear error for malformed commands and leaves the state as it was', () => {
    const params = reconstructText.prepare!({ include_text: true });
    const s = reconstructText.init(params);
    const ctx = { key: 'k', time: 0, emit() {}, late() {} };
    reconstructText.reduce(s, save({ ty: 'is', ibi: 1, s: 'abc' }), ctx, params);
    expect(() => reconstructText.reduce(s, save({ ty: 'ds', si: 3, ei: 1 }), ctx, params)).toThrow("'ds' command has si 3 > ei 1");
    expect(() => reconstructText.reduce(s, save({ ty: 'is', s: 'x' }), ctx, params)).toThrow(/needs ibi/);
    expect(() => reconstructText.reduce(s, { event: 'google_docs_save' }, ctx, params)).toThrow(/bundles/);
    expect(s.text).toBe('abc');
  });
  it('turns a recorded editing session back into exactly the final text', () => {
    const classroom = new Classroom({ students: 3, documents: 1, seed: 7, trackText: true, saveEvery: 4 });
    const events = [...classroom.events(6000), ...classroom.finish()].map((e) => e.event);
    for (let s = 0; s < 3; s++) {
      const mine = events.filter((e) => e.auth.user_id === `s-000${s}` && e.event === 'google_docs_save');
      const r = run(reconstructText, { include_text: true }, mine);
      const got = (r.view() as any).text as string;
      expect(got.length).toBeGreaterThan(100);
      expect(got).toBe(classroom.text(s, 0));
    }
  });
});

describe('words_per_minute', () => {
  it('counts typed characters in the trailing minute as words of 5 characters', () => {
    const events = Array.from({ length: 100 }, (_, i) => ({ ts: 60_000 * 10 + i * 500, keystroke: { key: i % 10 === 9 ? 'Backspace' : 'a' } }));
    const r = run(wordsPerMinute, {}, events);
    // Keystrokes at 10:00..10:49.5: 90 characters (10 are Backspace) in the last minute.
    expect(r.view(60_000 * 10 + 49_500)).toEqual({ wpm: 18, keystrokes: 100 });
  });
  it('slides in event time: a student who typed 48 s ago still shows, across a minute boundary', () => {
    // 25 characters from 10:00:30 to 10:00:42; the clock at 10:01:30 (48 s after the last key). Whole-minute
    // buckets showed 0 here: the 10:00 minute had left the window.
    const events = Array.from({ length: 25 }, (_, i) => ({ ts: 60_000 * 10 + 30_000 + i * 500, keystroke: { key: 'a' } }));
    const r = run(wordsPerMinute, {}, events);
    expect(r.view(60_000 * 11 + 30_000)).toEqual({ wpm: 5, keystrokes: 25 });
    // 61 s after the last key they are out of the window.
    expect(r.view(60_000 * 10 + 42_000 + 61_000)).toEqual({ wpm: 0, keystrokes: 25 });
    // A 5 m window: 5 words over 5 minutes.
    expect(run(wordsPerMinute, { window: '5m' }, events).view(60_000 * 14)).toEqual({ wpm: 1, keystrokes: 25 });
  });
  it('counts a key once when the extension logs its keydown, keypress and keyup', () => {
    const typed = 'hello world';
    const events = [...typed].flatMap((ch, i) =>
      ['keydown', 'keypress', 'keyup'].map((type, j) => ({ event: 'keystroke', ts: 1_000_000 + i * 200 + j * 30, keystroke: { type, key: ch } })),
    );
    const once = [...typed].map((ch, i) => ({ event: 'keystroke', ts: 1_000_000 + i * 200, keystroke: { key: ch } }));
    const now = 1_000_000 + typed.length * 200;
    expect(run(wordsPerMinute, {}, events).view(now)).toEqual({ wpm: 2.2, keystrokes: 11 });
    expect(run(wordsPerMinute, {}, events).view(now)).toEqual(run(wordsPerMinute, {}, once).view(now));
    expect(run(wordsPerMinute, { key_event: 'keyup' }, events).view(now)).toEqual({ wpm: 2.2, keystrokes: 11 });
  });
  it('a state of the per-minute version starts afresh', () => {
    const params = wordsPerMinute.prepare!({});
    const old = { buckets: [[16_666, 40]], keystrokes: 40, last: 1_000_000 } as any;
    const s = wordsPerMinute.reduce(old, { keystroke: { key: 'a' } }, { key: 'k', time: 1_000_100, emit() {}, late() {} }, params);
    expect(wordsPerMinute.view!(s, params, 1_000_100)).toEqual({ wpm: 0.2, keystrokes: 41 });
  });
});

describe('aggregators', () => {
  it('compute mean, median and percentiles with known answers', () => {
    expect(meanAgg.aggregate([1, 2, 3, 'x', null], {})).toBe(2);
    expect(medianAgg.aggregate([5, 1, 3, 2], {})).toBe(2.5);
    expect(percentileAgg.aggregate([10, 20, 30, 40, 50], { p: 90 })).toBe(46);
    expect(percentileAgg.aggregate([], { p: 50 })).toBe(null);
  });
});
