import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam } from './params.js';

/** Events per second-bucket over a sliding horizon in event time (bounded: one bucket per `bucket`). */
export interface RateState {
  buckets: Array<[start: number, count: number]>;
  /** Highest event time seen (null before any: states are JSON, which has no -Infinity). */
  last: number | null;
}

export const rate: Operator<RateState, { horizon: number; bucket: number }> = {
  name: 'rate',
  summary: 'Events per minute over a sliding event-time horizon (default 5m).',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { horizon: { ...durationSchema, description: 'the sliding horizon (default 5m)' } },
  },
  prepare: (p: { horizon?: unknown }) => {
    const horizon = durationParam('horizon', p.horizon ?? '5m');
    return { horizon, bucket: Math.max(1000, Math.floor(horizon / 60)) };
  },
  init: () => ({ buckets: [], last: null }),
  reduce(s, _e, ctx, p) {
    const start = Math.floor(ctx.time / p.bucket) * p.bucket;
    const b = s.buckets;
    const hit = b.length && b[b.length - 1][0] === start ? b[b.length - 1] : b.find((x) => x[0] === start);
    if (hit) hit[1]++;
    else {
      b.push([start, 1]);
      if (b.length > 1 && b[b.length - 2][0] > start) b.sort((x, y) => x[0] - y[0]);
    }
    if (s.last === null || ctx.time > s.last) s.last = ctx.time;
    while (b.length && b[0][0] + p.bucket <= s.last - p.horizon) b.shift();
    return s;
  },
  view: (s, p, now) => {
    const from = Math.max(now, s.last ?? now) - p.horizon;
    let n = 0;
    const b = s.buckets;
    for (let i = 0; i < b.length; i++) if (b[i][0] + p.bucket > from) n += b[i][1]; // indexed: see words-per-minute
    return { per_minute: Math.round((n / (p.horizon / 60_000)) * 100) / 100, events: n };
  },
  viewSchema: { type: 'object', additionalProperties: false, properties: { per_minute: { type: 'number' }, events: { type: 'integer' } } },
  example: `activity: { from: [extension], key: student, op: rate, params: { horizon: 5m } }`,
};
