import type { Operator } from '../engine/types.js';
import { numberAt, pathParam } from './params.js';
import type { Accessor } from '../engine/jsonpath.js';

/** Welford's running moments: numerically stable, and mergeable (Chan et al.) for partial aggregates. */
export interface StatsState {
  n: number;
  mean: number;
  m2: number;
  min: number | null;
  max: number | null;
  sum: number;
}

export const stats: Operator<StatsState, { get: Accessor }> = {
  name: 'stats',
  summary: 'Count, sum, mean, variance (Welford), min and max of a numeric field; events without it are skipped.',
  params: {
    type: 'object',
    required: ['field'],
    additionalProperties: false,
    properties: { field: { type: 'string', pattern: '^\\$', description: 'JSON path of the number, e.g. $.count' } },
  },
  prepare: (p: { field: string }) => ({ get: pathParam('field', p.field) }),
  init: () => ({ n: 0, mean: 0, m2: 0, min: null, max: null, sum: 0 }),
  reduce(s, event, _ctx, p) {
    const x = numberAt(p.get, event);
    if (x === undefined) return s;
    s.n++;
    const d = x - s.mean;
    s.mean += d / s.n;
    s.m2 += d * (x - s.mean);
    s.sum += x;
    s.min = s.min === null ? x : Math.min(s.min, x);
    s.max = s.max === null ? x : Math.max(s.max, x);
    return s;
  },
  merge(a, b) {
    if (a.n === 0) return { ...b };
    if (b.n === 0) return { ...a };
    const n = a.n + b.n;
    const d = b.mean - a.mean;
    return {
      n,
      mean: a.mean + (d * b.n) / n,
      m2: a.m2 + b.m2 + (d * d * a.n * b.n) / n,
      sum: a.sum + b.sum,
      min: Math.min(a.min!, b.min!),
      max: Math.max(a.max!, b.max!),
    };
  },
  view: (s) => {
    const variance = s.n > 1 ? s.m2 / (s.n - 1) : 0;
    return { count: s.n, sum: s.sum, mean: s.n ? s.mean : null, variance, stddev: Math.sqrt(variance), min: s.min, max: s.max };
  },
  viewSchema: { type: 'object', additionalProperties: false, properties: { count: { type: 'integer' }, sum: { type: 'number' }, mean: { type: ['number', 'null'] }, variance: { type: 'number' }, stddev: { type: 'number' }, min: { type: ['number', 'null'] }, max: { type: ['number', 'null'] } } },
  example: `burst_stats: { from: [burst], key: student, op: stats, params: { field: $.count } }`,
};
