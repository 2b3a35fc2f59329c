// session_window's reduce has allocation-free paths for the common cases (operators/session-window.ts). This
// checks them against the general merge they replace, kept here as the reference: same states (every field),
// same emitted sessions and late events, for any event order, gap, lateness and summed field.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LoEvent, ReduceContext } from '../../engine/types.js';
import { sessionWindow, type Session, type SessionState } from '../../operators/session-window.js';

type P = ReturnType<NonNullable<typeof sessionWindow.prepare>>;

/** The general merge: every open session (held ones and the newest) merged with the event, sorted, emitted by watermark. */
function referenceReduce(s: SessionState, e: LoEvent, ctx: ReduceContext, p: P): SessionState {
  const t = ctx.time;
  s.closed_until ??= null;
  if (s.closed_until !== null && t < s.closed_until) {
    ctx.late(e);
    return s;
  }
  const x = typeof e.x === 'number' && p.field ? e.x : 0;
  const joined: Session = { start: t, end: t, count: 1, sum: x };
  const open: Session[] = [];
  const all = [...(s.held ?? [])];
  if (s.start !== null) all.push({ start: s.start, end: s.end, count: s.count, sum: s.sum });
  for (const o of all) {
    if (t > o.start - p.gap && t < o.end + p.gap) {
      joined.start = Math.min(joined.start, o.start);
      joined.end = Math.max(joined.end, o.end);
      joined.count += o.count;
      joined.sum += o.sum;
    } else open.push(o);
  }
  open.push(joined);
  open.sort((a, b) => a.start - b.start);
  if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
  const watermark = s.max_seen - p.lateness;
  const still: Session[] = [];
  for (const o of open) {
    if (o.end + p.gap <= watermark) {
      ctx.emit({ key: ctx.key, window_start: o.start, window_end: o.end, count: o.count, duration_ms: o.end - o.start, sum: o.sum });
      s.closed++;
      s.closed_until = Math.max(s.closed_until ?? -Infinity, o.end + p.gap);
    } else still.push(o);
  }
  const newest = still.pop();
  s.start = newest ? newest.start : null;
  s.end = newest ? newest.end : 0;
  s.count = newest ? newest.count : 0;
  s.sum = newest ? newest.sum : 0;
  s.held = still;
  return s;
}

function fold(reduce: typeof referenceReduce, p: P, times: number[], withoutHeld: boolean) {
  const out: unknown[] = [];
  let s = sessionWindow.init(p);
  // A state stored before `held` existed has none.
  if (withoutHeld) delete (s as Partial<SessionState>).held;
  times.forEach((t, i) => {
    const ctx: ReduceContext = { key: 'k', time: t, emit: (x) => out.push(['emit', x]), late: (e) => out.push(['late', e]) };
    s = reduce(s, { ts: t, x: i + 1 } as LoEvent, ctx, p);
    out.push(['state', structuredClone(s)]);
  });
  return out;
}

describe('session_window fast paths', () => {
  it('give the same states, emissions and late events as the general merge (property)', () => {
    const ms = fc.integer({ min: 0, max: 240 }).map((n) => n * 250);
    fc.assert(
      fc.property(
        fc.array(ms, { maxLength: 60 }),
        fc.constantFrom('0s', '1s', '2s', '5s'),
        fc.constantFrom(0, 1000, 5000),
        fc.boolean(),
        fc.boolean(),
        (times, gap, lateness, field, withoutHeld) => {
          const p = sessionWindow.prepare!({ gap, allowed_lateness: lateness, ...(field ? { field: '$.x' } : {}) });
          expect(fold(sessionWindow.reduce, p, times, withoutHeld)).toEqual(fold(referenceReduce, p, times, withoutHeld));
        },
      ),
      { numRuns: 500 },
    );
  });
});
