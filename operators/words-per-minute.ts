import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam, paramError } from './params.js';
import { DEFAULT_KEY_EVENT, isCountedKey, keyEventSchema } from './keystrokes.js';

/** Typed characters in event-time buckets (`window / 60` wide, at least 1 s) over the trailing window. */
export interface WpmState {
  recent: Array<[start: number, chars: number]>;
  keystrokes: number;
  /** Highest event time of a counted key (0 before any). */
  last: number;
}

export interface WpmParams {
  window: number;
  bucket: number;
  keyEvent: string;
}

/**
 * Typing speed from keystroke events: characters typed (single-character keys; Backspace and other named
 * keys excluded) in the sliding event-time `window` ending at the pipeline's clock, as words per minute
 * with the usual 5 characters a word. A key logged as keydown/keypress/keyup counts once (`key_event`).
 */
export const wordsPerMinute: Operator<WpmState, WpmParams> = {
  name: 'words_per_minute',
  summary:
    'Typing speed in words per minute (5 characters a word) over a sliding event-time window ending now; ' +
    'a key logged as keydown, keypress and keyup counts once.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      window: { ...durationSchema, description: 'the sliding event-time window: characters typed in the last `window`, per minute (default 1m)' },
      key_event: keyEventSchema,
    },
  },
  prepare: (p: { window?: unknown; key_event?: string }) => {
    const window = durationParam('window', p.window ?? '1m');
    if (window < 1000) throw paramError('window', 'must be at least 1s');
    return { window, bucket: Math.max(1000, Math.floor(window / 60)), keyEvent: p.key_event ?? DEFAULT_KEY_EVENT };
  },
  init: () => ({ recent: [], keystrokes: 0, last: 0 }),
  reduce(s, e, ctx, p) {
    if (!isCountedKey(e, p.keyEvent)) return s;
    // A state from before sliding windows (per-minute `buckets`) starts afresh.
    if (!Array.isArray(s.recent)) {
      delete (s as unknown as Record<string, unknown>).buckets;
      s.recent = [];
    }
    s.keystrokes++;
    if (ctx.time > s.last) s.last = ctx.time;
    const key = e.keystroke?.key;
    if (typeof key !== 'string' || key.length !== 1) return s;
    const start = Math.floor(ctx.time / p.bucket) * p.bucket;
    const b = s.recent;
    const hit = b.length && b[b.length - 1][0] === start ? b[b.length - 1] : b.find((x) => x[0] === start);
    if (hit) hit[1]++;
    else {
      b.push([start, 1]);
      if (b.length > 1 && b[b.length - 2][0] > start) b.sort((x, y) => x[0] - y[0]);
    }
    while (b.length && b[0][0] + p.bucket <= s.last - p.window) b.shift();
    return s;
  },
  view: (s, p, now) => {
    const from = Math.max(now, s.last) - p.window;
    let chars = 0;
    // An indexed loop: destructuring each [start, count] pair through the iterator made this view half of a
    // dashboard push's cost (bench/hot-paths.ts).
    const b = s.recent ?? [];
    for (let i = 0; i < b.length; i++) if (b[i][0] + p.bucket > from) chars += b[i][1];
    return { wpm: Math.round((chars / 5 / (p.window / 60_000)) * 10) / 10, keystrokes: s.keystrokes };
  },
  viewSchema: { type: 'object', additionalProperties: false, properties: { wpm: { type: 'number' }, keystrokes: { type: 'integer' } } },
  example: `typing: { from: [extension], key: student, where: "event == 'keystroke'", op: words_per_minute, params: { window: 2m } }`,
};
