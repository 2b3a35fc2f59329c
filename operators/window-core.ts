// Shared by tumbling and sliding windows: per-key open windows in event time, closed (and emitted) once the
// key's watermark (highest event time seen - allowed_lateness) passes their end. An event for a window that
// already closed goes to the late stream: never silently dropped.
import type { LoEvent, ReduceContext } from '../engine/types.js';
import type { Accessor } from '../engine/jsonpath.js';
import { numberAt } from './params.js';

export interface WindowState {
  /** Open windows by start time (as a string key: states are plain JSON). */
  open: Record<string, { count: number; sum: number }>;
  /** Highest event time seen; null before any (states are JSON, which has no -Infinity). */
  max_seen: number | null;
  closed: number;
  /** End of the latest closed window: events before it are late (null before any window closed). */
  closed_until: number | null;
}

export interface WindowParams {
  size: number;
  every: number;
  lateness: number;
  field?: Accessor;
}

export const initWindows = (): WindowState => ({ open: {}, max_seen: null, closed: 0, closed_until: null });

export function reduceWindows(s: WindowState, e: LoEvent, ctx: ReduceContext, p: WindowParams): WindowState {
  const t = ctx.time;
  // The windows [start, start + size) that contain t, starts aligned to `every`.
  const last = Math.floor(t / p.every) * p.every;
  const starts: number[] = [];
  for (let start = last; start > t - p.size; start -= p.every) starts.push(start);
  const closedUntil = s.closed_until ?? -Infinity;
  if (starts.every((start) => start + p.size <= closedUntil)) {
    ctx.late(e);
    return s;
  }
  const x = p.field ? (numberAt(p.field, e) ?? 0) : 0;
  for (const start of starts) {
    if (start + p.size <= closedUntil) continue;
    const w = (s.open[start] ??= { count: 0, sum: 0 });
    w.count++;
    w.sum += x;
  }
  if (s.max_seen === null || t > s.max_seen) s.max_seen = t;
  const watermark = s.max_seen - p.lateness;
  for (const key of Object.keys(s.open).map(Number).sort((a, b) => a - b)) {
    if (key + p.size > watermark) break;
    const w = s.open[key];
    ctx.emit({ key: ctx.key, window_start: key, window_end: key + p.size, count: w.count, sum: w.sum, mean: w.count ? w.sum / w.count : null });
    delete s.open[key];
    s.closed++;
    s.closed_until = Math.max(s.closed_until ?? -Infinity, key + p.size);
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

export const viewWindows = (s: WindowState) => ({
  closed: s.closed,
  open: Object.entries(s.open).map(([start, w]) => ({ window_start: Number(start), count: w.count, sum: w.sum })),
});
