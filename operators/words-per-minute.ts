import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam } from './params.js';

/** Per-minute buckets of typed characters over a trailing window (bounded state: one entry per minute). */
export interface WpmState {
  buckets: Array<[minute: number, chars: number]>;
  keystrokes: number;
  last: number;
}

/**
 * Typing speed from keystroke events: characters typed (Backspace and other named keys excluded) in the
 * trailing `window`, as words per minute with the usual 5 characters per word.
 */
export const wordsPerMinute: Operator<WpmState, { window: number }> = {
  name: 'words_per_minute',
  summary: 'Typing speed in words per minute (5 characters a word) over a trailing window of keystroke events.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { window: { ...durationSchema, description: 'trailing window (default 1m; whole minutes)' } },
  },
  prepare: (p: { window?: unknown }) => ({ window: Math.max(60_000, durationParam('window', p.window ?? '1m')) }),
  init: () => ({ buckets: [], keystrokes: 0, last: 0 }),
  reduce(s, e, ctx, p) {
    const key = e.keystroke?.key;
    s.keystrokes++;
    if (ctx.time > s.last) s.last = ctx.time;
    if (typeof key !== 'string' || key.length !== 1) return s;
    const minute = Math.floor(ctx.time / 60_000);
    const b = s.buckets;
    if (b.length && b[b.length - 1][0] === minute) b[b.length - 1][1]++;
    else if (!b.length || b[b.length - 1][0] < minute) b.push([minute, 1]);
    else {
      const found = b.find((x) => x[0] === minute);
      if (found) found[1]++;
      else {
        b.push([minute, 1]);
        b.sort((x, y) => x[0] - y[0]);
      }
    }
    const oldest = Math.floor((s.last - p.window) / 60_000);
    while (b.length && b[0][0] <= oldest) b.shift();
    return s;
  },
  view: (s, p, now) => {
    const from = Math.floor((Math.max(now, s.last) - p.window) / 60_000);
    let chars = 0;
    for (const [m, c] of s.buckets) if (m > from) chars += c;
    return { wpm: Math.round((chars / 5 / (p.window / 60_000)) * 10) / 10, keystrokes: s.keystrokes };
  },
  example: `typing: { from: [extension], key: student, where: "event == 'keystroke'", op: words_per_minute, params: { window: 2m } }`,
};
