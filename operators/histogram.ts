import type { Operator } from '../engine/types.js';
import type { Accessor } from '../engine/jsonpath.js';
import { numberAt, paramError, pathParam } from './params.js';

/** Counts per bucket: bucket i holds values in [bounds[i-1], bounds[i]); the last one everything above. */
export const histogram: Operator<number[], { get: Accessor; bounds: number[] }> = {
  name: 'histogram',
  summary: 'Counts of a numeric field per bucket, with bucket upper bounds you choose.',
  params: {
    type: 'object',
    required: ['field', 'bounds'],
    additionalProperties: false,
    properties: {
      field: { type: 'string', pattern: '^\\$' },
      bounds: { type: 'array', items: { type: 'number' }, minItems: 1, description: 'increasing upper bounds (exclusive)' },
    },
  },
  prepare: (p: { field: string; bounds: number[] }) => {
    for (let i = 1; i < p.bounds.length; i++) if (!(p.bounds[i] > p.bounds[i - 1])) throw paramError('bounds', 'must be strictly increasing');
    return { get: pathParam('field', p.field), bounds: p.bounds };
  },
  init: (p) => new Array(p.bounds.length + 1).fill(0),
  reduce(s, e, _c, p) {
    const x = numberAt(p.get, e);
    if (x === undefined) return s;
    let i = 0;
    while (i < p.bounds.length && x >= p.bounds[i]) i++;
    s[i]++;
    return s;
  },
  merge: (a, b) => a.map((x, i) => x + b[i]),
  view: (s, p) => s.map((count, i) => ({ lt: i < p.bounds.length ? p.bounds[i] : null, count })),
  viewSchema: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { lt: { type: ['number', 'null'] }, count: { type: 'integer' } } } },
  example: `burst_sizes: { from: [burst], key: student, op: histogram, params: { field: $.count, bounds: [5, 10, 20, 50] } }`,
};
