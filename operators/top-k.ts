import type { Operator } from '../engine/types.js';
import type { Accessor } from '../engine/jsonpath.js';
import { keyAt, pathParam } from './params.js';

/** Space-Saving counters: value, count, and the overestimate inherited when the slot was taken over. */
export type TopKState = Array<[value: string, count: number, error: number]>;

/**
 * Heavy hitters with the Space-Saving algorithm (Metwally et al.): `capacity` counters; every value whose
 * true frequency exceeds total/capacity is guaranteed to be kept, and each count overestimates by at most
 * its `error`.
 */
export const topK: Operator<TopKState, { get: Accessor; k: number; capacity: number }> = {
  name: 'top_k',
  summary: 'The k most frequent values of a field (Space-Saving heavy hitters, bounded state).',
  params: {
    type: 'object',
    required: ['field'],
    additionalProperties: false,
    properties: {
      field: { type: 'string', pattern: '^\\$' },
      k: { type: 'integer', minimum: 1, maximum: 1000, description: 'how many to show (default 10)' },
      capacity: { type: 'integer', minimum: 1, maximum: 100000, description: 'counters kept (default 4k)' },
    },
  },
  prepare: (p: { field: string; k?: number; capacity?: number }) => {
    const k = p.k ?? 10;
    return { get: pathParam('field', p.field), k, capacity: Math.max(k, p.capacity ?? 4 * k) };
  },
  init: () => [],
  reduce(s, e, _c, p) {
    const key = keyAt(p.get, e);
    if (key === undefined) return s;
    const hit = s.find((c) => c[0] === key);
    if (hit) hit[1]++;
    else if (s.length < p.capacity) s.push([key, 1, 0]);
    else {
      let minI = 0;
      for (let i = 1; i < s.length; i++) if (s[i][1] < s[minI][1]) minI = i;
      const m = s[minI][1];
      s[minI] = [key, m + 1, m];
    }
    return s;
  },
  view: (s, p) =>
    [...s]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, p.k)
      .map(([value, count, error]) => ({ value, count, error })),
  viewSchema: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { value: {}, count: { type: 'integer' }, error: { type: 'integer' } } } },
  example: `top_keys: { from: [extension], key: student, where: "event == 'keystroke'", op: top_k, params: { field: $.keystroke.key, k: 5 } }`,
};
