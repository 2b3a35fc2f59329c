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
  /** Highest event time seen for this key (null before any): the per-key watermark is this minus allowed_lateness. */
  max_seen: number | null;
}

interface P {
  gap: number;
  lateness: number;
  field?: Accessor;
}

/**
 * Session windows in event time: events closer than `gap` belong to one session. A session closes when an
 * event arrives `gap` or more after its end; it is then emitted (a cascade). An event older than the
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
    if (s.start !== null && t >= s.start - p.gap && t < s.end + p.gap) {
      // Joins the open session (possibly slightly out of order).
      if (t < s.start) s.start = t;
      if (t > s.end) s.end = t;
      s.count++;
      s.sum += x;
    } else if (s.start !== null && t < s.start) {
      if (t < (s.max_seen ?? t) - p.lateness) {
        ctx.late(e);
        return s;
      }
      // Within allowed lateness but before the open session: it forms a session of its own, emitted now.
      ctx.emit({ key: ctx.key, window_start: t, window_end: t, count: 1, duration_ms: 0, sum: x });
      s.closed++;
    } else {
      if (s.start !== null) {
        ctx.emit({ key: ctx.key, window_start: s.start, window_end: s.end, count: s.count, duration_ms: s.end - s.start, sum: s.sum });
        s.closed++;
      }
      s.start = t;
      s.end = t;
      s.count = 1;
      s.sum = x;
    }
    if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
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
    },
  },
  example: `bursts: { from: [extension], key: student, where: "event == 'keystroke'", op: session_window, params: { gap: 2s }, emit: burst }`,
};
