import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam } from './params.js';

export interface TimeOnTaskState {
  active_ms: number;
  first_seen: number | null;
  last_seen: number | null;
  sessions: number;
}

/**
 * Active time: the sum of gaps between consecutive events that are shorter than `idle_after`.
 * A longer gap starts a new session and is not counted (the learner was away).
 */
export const timeOnTask: Operator<TimeOnTaskState, { idle: number }> = {
  name: 'time_on_task',
  summary: 'Active time in ms (gaps over idle_after are not counted), sessions, and whether the learner is idle now.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { idle_after: { ...durationSchema, description: 'a gap at least this long is idle time (default 5m)' } },
  },
  prepare: (p: { idle_after?: unknown }) => ({ idle: durationParam('idle_after', p.idle_after ?? '5m') }),
  init: () => ({ active_ms: 0, first_seen: null, last_seen: null, sessions: 0 }),
  reduce(s, _e, ctx, p) {
    const t = ctx.time;
    if (s.last_seen === null) {
      s.first_seen = t;
      s.last_seen = t;
      s.sessions = 1;
      return s;
    }
    const gap = t - s.last_seen;
    if (gap < 0) return s; // out of order: already covered by the later event
    if (gap < p.idle) s.active_ms += gap;
    else s.sessions++;
    s.last_seen = t;
    return s;
  },
  view: (s, p, now) => ({
    active_ms: s.active_ms,
    active_minutes: Math.round(s.active_ms / 600) / 100,
    sessions: s.sessions,
    last_seen: s.last_seen,
    idle: s.last_seen === null ? true : now - s.last_seen >= p.idle,
  }),
  viewSchema: { type: 'object', additionalProperties: false, properties: { active_ms: { type: 'number' }, active_minutes: { type: 'number' }, sessions: { type: 'integer' }, last_seen: { type: ['number', 'null'] }, idle: { type: 'boolean' } } },
  example: `time_on_task: { from: [extension], key: student, op: time_on_task, params: { idle_after: 5m } }`,
};
