// Shared by tumbling and sliding windows: per-key windows in event time. Lateness works the same way in
// every windowed operator (tumbling_window, sliding_window, session_window):
// - each key has a watermark: the highest event time seen for the key minus `allowed_lateness`;
// - a window is emitted, once and final, when the watermark reaches the point after which no event could
//   still change it: its end for tumbling and sliding windows (window_end, exclusive);
// - an event earlier than the end of the latest emitted window is late: it goes to the `late` stream (or
//   the dead letters when the reducer has none) and counts in no window, so every emitted window is exactly
//   the aggregate of the events it covers that were not late. Every other event counts in every window it
//   falls in, even when it is behind the watermark (its windows have not been emitted yet).
// So `allowed_lateness: 10s` holds each window open until an event 10 s past its end arrives: events up to
// 10 s out of order are never late.
import type { LoEvent, ReduceContext } from '../engine/types.js';
import type { Accessor } from '../engine/jsonpath.js';
import { numberAt } from './params.js';

export interface WindowState {
  /** Open windows by start time (as a string key: states are plain JSON). */
  open: Record<string, { count: number; sum: number }>;
  /** Highest event time seen; null before any (states are JSON, which has no -Infinity). */
  max_seen: number | null;
  closed: number;
  /** End of the latest emitted window: events before it are late (null before any window closed). */
  closed_until: number | null;
}

export interface WindowParams {
  size: number;
  every: number;
  lateness: number;
  field?: Accessor;
}

/** The allowed_lateness parameter, worded the same for every windowed operator. */
export const latenessDescription =
  "the watermark trails the key's newest event by this much; a window is emitted once the watermark passes it, and only events in an emitted window are late (default 0)";

export const initWindows = (): WindowState => ({ open: {}, max_seen: null, closed: 0, closed_until: null });

export function reduceWindows(s: WindowState, e: LoEvent, ctx: ReduceContext, p: WindowParams): WindowState {
  const t = ctx.time;
  if (s.closed_until !== null && t < s.closed_until) {
    ctx.late(e);
    return s;
  }
  const x = p.field ? (numberAt(p.field, e) ?? 0) : 0;
  // The windows [start, start + size) that contain t, starts aligned to `every`.
  for (let start = Math.floor(t / p.every) * p.every; start > t - p.size; start -= p.every) {
    const w = (s.open[start] ??= { count: 0, sum: 0 });
    w.count++;
    w.sum += x;
  }
  if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
  const watermark = s.max_seen - p.lateness;
  for (const start of Object.keys(s.open).map(Number).sort((a, b) => a - b)) {
    if (start + p.size > watermark) break;
    const w = s.open[start];
    ctx.emit({ key: ctx.key, window_start: start, window_end: start + p.size, count: w.count, sum: w.sum, mean: w.count ? w.sum / w.count : null });
    delete s.open[start];
    s.closed++;
    s.closed_until = Math.max(s.closed_until ?? -Infinity, start + p.size);
  }
  return s;
}

export const windowEmits = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    window_start: { type: 'number' },
    window_end: { type: 'number' },
    count: { type: 'integer' },
    sum: { type: 'number' },
    mean: { type: ['number', 'null'] },
  },
};

/** What viewWindows returns (the compiler checks dashboard fields against it). */
export const windowView = {
  type: 'object',
  additionalProperties: false,
  properties: {
    closed: { type: 'integer' },
    open: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { window_start: { type: 'number' }, window_end: { type: 'number' }, count: { type: 'integer' }, sum: { type: 'number' } } } },
  },
};

export const viewWindows = (s: WindowState, p: WindowParams) => ({
  closed: s.closed,
  open: Object.keys(s.open)
    .map(Number)
    .sort((a, b) => a - b)
    .map((start) => ({ window_start: start, window_end: start + p.size, count: s.open[start].count, sum: s.open[start].sum })),
});
