import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam, numberAt, pathParam } from './params.js';
import type { Accessor } from '../engine/jsonpath.js';
import { latenessDescription } from './window-core.js';

export interface Session {
  start: number;
  /** Time of the session's last event (the session can still grow until `end + gap`). */
  end: number;
  count: number;
  sum: number;
}

export interface SessionState {
  /** Sessions not emitted yet, sorted by start, at least `gap` apart. */
  open: Session[];
  closed: number;
  /** Highest event time seen for this key (null before any): the watermark is this minus allowed_lateness. */
  max_seen: number | null;
  /** The latest `end + gap` of an emitted session: events before it are late (null before any closed). */
  closed_until: number | null;
}

interface P {
  gap: number;
  lateness: number;
  field?: Accessor;
}

/** A state stored by the earlier single-session version of this operator. */
interface OldState {
  start: number | null;
  end: number;
  count: number;
  sum: number;
  closed: number;
  max_seen: number | null;
}

function upgrade(s: SessionState | OldState): SessionState {
  if (Array.isArray((s as SessionState).open)) return s as SessionState;
  const old = s as OldState;
  const open = old.start === null ? [] : [{ start: old.start, end: old.end, count: old.count, sum: old.sum }];
  return { open, closed: old.closed, max_seen: old.max_seen, closed_until: null };
}

/**
 * Session windows in event time: events less than `gap` apart belong to one session, so a pause of at least
 * `gap` separates two sessions. Lateness works as in every windowed operator (see window-core.ts): the key's
 * watermark is its newest event time minus `allowed_lateness`; a session is emitted, once and final, when the
 * watermark reaches its last event + gap (no event that is not late could still join it). Until then a
 * late-arriving event can join it, extend it backwards, or bridge it with the next session (they merge). An
 * event earlier than the last emitted session's end + gap is late: it goes to the `late` stream and counts
 * nowhere, so every emitted session is exactly the session the non-late events form.
 */
export const sessionWindow: Operator<SessionState, P> = {
  name: 'session_window',
  summary: 'Session windows in event time (e.g. typing bursts between pauses); emits each session once the watermark passes its last event + gap.',
  params: {
    type: 'object',
    required: ['gap'],
    additionalProperties: false,
    properties: {
      gap: { ...durationSchema, description: 'a pause at least this long separates two sessions' },
      allowed_lateness: { ...durationSchema, description: latenessDescription },
      field: { type: 'string', pattern: '^\\$', description: 'a numeric field to sum per session (optional)' },
    },
  },
  prepare: (p: { gap: unknown; allowed_lateness?: unknown; field?: string }) => ({
    gap: durationParam('gap', p.gap),
    lateness: durationParam('allowed_lateness', p.allowed_lateness ?? 0),
    field: p.field ? pathParam('field', p.field) : undefined,
  }),
  init: () => ({ open: [], closed: 0, max_seen: null, closed_until: null }),
  reduce(state, e, ctx, p) {
    const s = upgrade(state);
    const t = ctx.time;
    if (s.closed_until !== null && t < s.closed_until) {
      ctx.late(e);
      return s;
    }
    const x = p.field ? (numberAt(p.field, e) ?? 0) : 0;
    // The open sessions this event touches (less than gap away) merge with it into one.
    const joined: Session = { start: t, end: t, count: 1, sum: x };
    const keep: Session[] = [];
    for (const o of s.open) {
      if (t > o.start - p.gap && t < o.end + p.gap) {
        joined.start = Math.min(joined.start, o.start);
        joined.end = Math.max(joined.end, o.end);
        joined.count += o.count;
        joined.sum += o.sum;
      } else keep.push(o);
    }
    keep.push(joined);
    keep.sort((a, b) => a.start - b.start);
    if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
    const watermark = s.max_seen - p.lateness;
    s.open = [];
    for (const o of keep) {
      if (o.end + p.gap <= watermark) {
        ctx.emit({ key: ctx.key, window_start: o.start, window_end: o.end, count: o.count, duration_ms: o.end - o.start, sum: o.sum });
        s.closed++;
        s.closed_until = Math.max(s.closed_until ?? -Infinity, o.end + p.gap);
      } else s.open.push(o);
    }
    return s;
  },
  view: (state) => {
    const s = upgrade(state);
    return { closed: s.closed, open: s.open.map((o) => ({ window_start: o.start, window_end: o.end, count: o.count, sum: o.sum })) };
  },
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
  example: `bursts: { from: [extension], key: student, where: "event == 'keystroke'", op: session_window, params: { gap: 2s, allowed_lateness: 5s }, emit: burst, late: late_keys }`,
};
