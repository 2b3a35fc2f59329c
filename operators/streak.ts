import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam } from './params.js';

export interface StreakState {
  current: number;
  longest: number;
  last: number | null;
  gaps: number;
  gap_total_ms: number;
  gap_max_ms: number;
}

/** Runs of events whose gaps stay under `gap`, and statistics of the gaps that broke them. */
export const streak: Operator<StreakState, { gap: number }> = {
  name: 'streak',
  summary: 'Current and longest run of events with gaps under `gap`, and the breaking gaps (count, mean, max).',
  params: {
    type: 'object',
    required: ['gap'],
    additionalProperties: false,
    properties: { gap: { ...durationSchema, description: 'a gap at least this long breaks the streak' } },
  },
  prepare: (p: { gap: unknown }) => ({ gap: durationParam('gap', p.gap) }),
  init: () => ({ current: 0, longest: 0, last: null, gaps: 0, gap_total_ms: 0, gap_max_ms: 0 }),
  reduce(s, _e, ctx, p) {
    if (s.last !== null && ctx.time < s.last) return s; // out of order: already inside the run
    if (s.last !== null && ctx.time - s.last >= p.gap) {
      const g = ctx.time - s.last;
      s.gaps++;
      s.gap_total_ms += g;
      s.gap_max_ms = Math.max(s.gap_max_ms, g);
      s.current = 0;
    }
    s.current++;
    s.longest = Math.max(s.longest, s.current);
    s.last = ctx.time;
    return s;
  },
  view: (s) => ({ current: s.current, longest: s.longest, gaps: s.gaps, mean_gap_ms: s.gaps ? s.gap_total_ms / s.gaps : null, max_gap_ms: s.gaps ? s.gap_max_ms : null }),
  viewSchema: { type: 'object', additionalProperties: false, properties: { current: { type: 'integer' }, longest: { type: 'integer' }, gaps: { type: 'integer' }, mean_gap_ms: { type: ['number', 'null'] }, max_gap_ms: { type: ['number', 'null'] } } },
  example: `focus: { from: [extension], key: student, op: streak, params: { gap: 1m } }`,
};
