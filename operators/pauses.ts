import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam } from './params.js';
import { isCountedKey } from './keystrokes.js';

export interface PauseState {
  last: number | null;
  current: number;
  bursts: number;
  burst_keys: number;
  pauses: number;
  pause_ms: number;
}

/**
 * P-bursts from keystroke events: typing runs between pauses of at least `threshold` (2 s is the usual
 * choice in writing research). The open burst counts once it has a key.
 */
export const pauses: Operator<PauseState, { threshold: number }> = {
  name: 'pauses',
  summary: 'P-burst and pause statistics from keystrokes (a key logged as keydown, keypress and keyup counts once): bursts, mean burst length (keys), pauses, mean pause.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { threshold: { ...durationSchema, description: 'a gap at least this long is a pause (default 2s)' } },
  },
  prepare: (p: { threshold?: unknown }) => ({ threshold: durationParam('threshold', p.threshold ?? '2s') }),
  init: () => ({ last: null, current: 0, bursts: 0, burst_keys: 0, pauses: 0, pause_ms: 0 }),
  reduce(s, e, ctx, p) {
    if (!isCountedKey(e)) return s; // a key's keypress and keyup: its keydown counted it
    if (s.last !== null && ctx.time < s.last) return s;
    if (s.last !== null && ctx.time - s.last >= p.threshold) {
      s.pauses++;
      s.pause_ms += ctx.time - s.last;
      s.current = 0;
    }
    if (s.current === 0) s.bursts++;
    s.current++;
    s.burst_keys++;
    s.last = ctx.time;
    return s;
  },
  view: (s) => ({
    bursts: s.bursts,
    mean_burst_len: s.bursts ? s.burst_keys / s.bursts : null,
    pauses: s.pauses,
    mean_pause_ms: s.pauses ? s.pause_ms / s.pauses : null,
  }),
  viewSchema: { type: 'object', additionalProperties: false, properties: { bursts: { type: 'integer' }, mean_burst_len: { type: ['number', 'null'] }, pauses: { type: 'integer' }, mean_pause_ms: { type: ['number', 'null'] } } },
  example: `pauses: { from: [extension], key: student, where: "event == 'keystroke'", op: pauses, params: { threshold: 2s } }`,
};
