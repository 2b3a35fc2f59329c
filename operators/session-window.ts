import type { Json, Operator } from '../engine/types.js';
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

/**
 * The newest open session at the top level (the state's shape from before allowed_lateness held sessions
 * open), earlier sessions still waiting for late events in `held`.
 */
export interface SessionState {
  /** Start of the newest open session, or null when none is open. */
  start: number | null;
  /** Time of its last event (it can still grow until `end + gap`). */
  end: number;
  count: number;
  sum: number;
  /** Earlier sessions not emitted yet, sorted by start (only with allowed_lateness). */
  held: Session[];
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

/** All open sessions, sorted by start (states stored before `held` existed have none held). */
function openSessions(s: SessionState): Session[] {
  const open = [...(s.held ?? [])];
  if (s.start !== null) open.push({ start: s.start, end: s.end, count: s.count, sum: s.sum });
  return open;
}

const showSession = (o: Session) => ({ window_start: o.start, window_end: o.end, count: o.count });

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
  init: () => ({ start: null, end: 0, count: 0, sum: 0, held: [], closed: 0, max_seen: null, closed_until: null }),
  reduce(s, e, ctx, p) {
    const t = ctx.time;
    s.closed_until ??= null; // a state stored before closed_until existed
    if (s.closed_until !== null && t < s.closed_until) {
      ctx.late(e);
      return s;
    }
    const x = p.field ? (numberAt(p.field, e) ?? 0) : 0;
    // The common cases take no arrays or sorting per event, with the same result as the general merge: no
    // held sessions and the event joins the open one or opens one (typing within a burst) ...
    const noneHeld = s.held === undefined || s.held.length === 0;
    if (noneHeld && (s.start === null || (t > s.start - p.gap && t < s.end + p.gap))) {
      const merge = s.start !== null;
      const start = merge ? Math.min(t, s.start!) : t;
      const end = merge ? Math.max(t, s.end) : t;
      const count = merge ? 1 + s.count : 1;
      const sum = merge ? x + s.sum : x;
      if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
      if (end + p.gap <= s.max_seen - p.lateness) {
        ctx.emit({ key: ctx.key, window_start: start, window_end: end, count, duration_ms: end - start, sum });
        s.closed++;
        s.closed_until = Math.max(s.closed_until ?? -Infinity, end + p.gap);
        s.start = null;
        s.end = 0;
        s.count = 0;
        s.sum = 0;
      } else {
        s.start = start;
        s.end = end;
        s.count = count;
        s.sum = sum;
      }
      s.held ??= [];
      return s;
    }
    let open: Session[];
    if (noneHeld) {
      // ... or the event is apart from the one open session (a new burst): the two in start order.
      const o: Session = { start: s.start!, end: s.end, count: s.count, sum: s.sum };
      const joined: Session = { start: t, end: t, count: 1, sum: x };
      open = joined.start < o.start ? [joined, o] : [o, joined];
    } else {
      // The open sessions this event touches (less than gap away) merge with it into one.
      const joined: Session = { start: t, end: t, count: 1, sum: x };
      open = [];
      for (const o of openSessions(s)) {
        if (t > o.start - p.gap && t < o.end + p.gap) {
          joined.start = Math.min(joined.start, o.start);
          joined.end = Math.max(joined.end, o.end);
          joined.count += o.count;
          joined.sum += o.sum;
        } else open.push(o);
      }
      open.push(joined);
      open.sort((a, b) => a.start - b.start);
    }
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
  },
  // `held` only with allowed_lateness: without it no earlier session can still be open.
  view: (s, p) => {
    const view: Record<string, Json> = { closed: s.closed, open: s.start === null ? null : showSession({ start: s.start, end: s.end, count: s.count, sum: s.sum }) };
    if (p.lateness > 0) view.held = (s.held ?? []).map(showSession);
    return view;
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
  viewSchema: { type: 'object', additionalProperties: false, properties: { closed: { type: 'integer' }, open: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: false, properties: { window_start: { type: 'number' }, window_end: { type: 'number' }, count: { type: 'integer' } } }] }, held: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { window_start: { type: 'number' }, window_end: { type: 'number' }, count: { type: 'integer' } } } } } },
  example: `bursts: { from: [extension], key: student, where: "event == 'keystroke'", op: session_window, params: { gap: 2s, allowed_lateness: 5s }, emit: burst, late: late_keys }`,
};
