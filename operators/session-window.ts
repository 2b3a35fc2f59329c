import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam, numberAt, pathParam } from './params.js';
import type { Accessor } from '../engine/jsonpath.js';

export interface SessionState {
  /** The open session, if any. */
  start: number | null;
  end: number;
  count: number;
  sum: number;
  closed: number;
  /** Older sessions still open for late events (only with allowed_lateness), oldest first. */
  earlier?: Run[];
  /** Highest event time seen for this key (null before any): the per-key watermark is this minus allowed_lateness. */
  max_seen: number | null;
}

/** A session as stored: [start, end, count, sum]. */
type Run = [start: number, end: number, count: number, sum: number];

interface P {
  gap: number;
  lateness: number;
  field?: Accessor;
}

/**
 * Session windows in event time: events closer than `gap` belong to one session. A session closes when the
 * per-key watermark (highest event time - allowed_lateness) passes its end + gap; it is then emitted (a
 * cascade). Until then a late event may still join it or bridge two sessions. An event older than the
 * watermark that cannot join the open session goes to the `late` stream, never silently lost.
 */
export const sessionWindow: Operator<SessionState, P> = {
  name: 'session_window',
  summary: 'Session windows in event time (e.g. typing bursts between pauses); emits each closed session.',
  params: {
    type: 'object',
    required: ['gap'],
    additionalProperties: false,
    properties: {
      gap: { ...durationSchema, description: 'a pause at least this long closes the session' },
      allowed_lateness: { ...durationSchema, description: 'how far behind the newest event an event may be and still count (default 0)' },
      field: { type: 'string', pattern: '^\\$', description: 'a numeric field to sum per session (optional)' },
    },
  },
  prepare: (p: { gap: unknown; allowed_lateness?: unknown; field?: string }) => ({
    gap: durationParam('gap', p.gap),
    lateness: durationParam('allowed_lateness', p.allowed_lateness ?? 0),
    field: p.field ? pathParam('field', p.field) : undefined,
  }),
  init: () => ({ start: null, end: 0, count: 0, sum: 0, closed: 0, max_seen: null }),
  reduce(s, e, ctx, p) {
    const t = ctx.time;
    const x = p.field ? (numberAt(p.field, e) ?? 0) : 0;
    // Fast path (nearly every keystroke): the event joins the only open session.
    if (s.start !== null && !s.earlier?.length && t >= s.start - p.gap && t < s.end + p.gap) {
      if (t < s.start) s.start = t;
      if (t > s.end) s.end = t;
      s.count++;
      s.sum += x;
      if (t > s.max_seen!) s.max_seen = t;
      return s;
    }
    const open: Run[] = [...(s.earlier ?? [])];
    if (s.start !== null) open.push([s.start, s.end, s.count, s.sum]);
    const touching = open.filter((r) => t >= r[0] - p.gap && t < r[1] + p.gap);
    if (touching.length === 0 && s.max_seen !== null && t < s.max_seen - p.lateness) {
      ctx.late(e); // its session would already have closed
      return s;
    }
    // The event, and every open session it is within `gap` of, become one session.
    let run: Run = [t, t, 1, x];
    for (const r of touching) run = [Math.min(run[0], r[0]), Math.max(run[1], r[1]), run[2] + r[2], run[3] + r[3]];
    const runs = open.filter((r) => !touching.includes(r));
    runs.push(run);
    runs.sort((a, b) => a[0] - b[0]);
    if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
    // A session closes once the watermark passes its end + gap: no on-time event can join it any more.
    const watermark = s.max_seen - p.lateness;
    const still: Run[] = [];
    for (const r of runs) {
      if (r[1] + p.gap > watermark) {
        still.push(r);
        continue;
      }
      ctx.emit({ key: ctx.key, window_start: r[0], window_end: r[1], count: r[2], duration_ms: r[1] - r[0], sum: r[3], ...(p.field ? { mean: r[3] / r[2] } : {}) });
      s.closed++;
    }
    const latest = still.pop();
    [s.start, s.end, s.count, s.sum] = latest ?? [null, 0, 0, 0];
    if (still.length) s.earlier = still;
    else delete s.earlier;
    return s;
  },
  view: (s) => ({
    closed: s.closed,
    open: s.start === null ? null : { window_start: s.start, window_end: s.end, count: s.count },
  }),
  emits: {
    type: 'object',
    properties: {
      key: { type: 'string' },
      window_start: { type: 'number' },
      window_end: { type: 'number' },
      count: { type: 'integer' },
      duration_ms: { type: 'number' },
      sum: { type: 'number' },
      mean: { type: 'number', description: 'sum / count, only when `field` is given' },
    },
  },
  example: `bursts: { from: [extension], key: student, where: "event == 'keystroke'", op: session_window, params: { gap: 2s }, emit: burst }`,
};
