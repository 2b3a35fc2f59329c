// Small numeric and positional reducers over one field. Each is a plain Operator object; `field` is a JSON
// path compiled once. Events without a usable value are skipped (they are not errors).
import type { Json, Operator } from '../engine/types.js';
import type { Accessor } from '../engine/jsonpath.js';
import { numberAt, pathParam } from './params.js';

type FieldParams = { get: Accessor };
const fieldSchema = (required: boolean, description: string) => ({
  type: 'object',
  additionalProperties: false,
  ...(required ? { required: ['field'] } : {}),
  properties: { field: { type: 'string', pattern: '^\\$', description } },
});
const prepareField = (p: { field?: string }): FieldParams => ({ get: pathParam('field', p.field ?? '$') });

export const sum: Operator<number, FieldParams> = {
  name: 'sum',
  summary: 'Sum of a numeric field.',
  params: fieldSchema(true, 'JSON path of the number'),
  prepare: prepareField,
  init: () => 0,
  reduce: (s, e, _c, p) => s + (numberAt(p.get, e) ?? 0),
  merge: (a, b) => a + b,
  example: `chars: { from: [burst], key: student, op: sum, params: { field: $.count } }`,
};

export const min: Operator<number | null, FieldParams> = {
  name: 'min',
  summary: 'Smallest value of a numeric field (null before any).',
  params: fieldSchema(true, 'JSON path of the number'),
  prepare: prepareField,
  init: () => null,
  reduce: (s, e, _c, p) => {
    const x = numberAt(p.get, e);
    return x === undefined ? s : s === null ? x : Math.min(s, x);
  },
  merge: (a, b) => (a === null ? b : b === null ? a : Math.min(a, b)),
  example: `shortest_burst: { from: [burst], key: student, op: min, params: { field: $.count } }`,
};

export const max: Operator<number | null, FieldParams> = {
  name: 'max',
  summary: 'Largest value of a numeric field (null before any).',
  params: fieldSchema(true, 'JSON path of the number'),
  prepare: prepareField,
  init: () => null,
  reduce: (s, e, _c, p) => {
    const x = numberAt(p.get, e);
    return x === undefined ? s : s === null ? x : Math.max(s, x);
  },
  merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
  example: `longest_burst: { from: [burst], key: student, op: max, params: { field: $.count } }`,
};

/** First and last keep the value and its event time, so merge can pick by time. */
type Stamped = { v: Json; t: number } | null;

export const first: Operator<Stamped, FieldParams> = {
  name: 'first',
  summary: 'The first value of a field (default: the whole event) in event order.',
  params: fieldSchema(false, 'JSON path (default $: the whole event)'),
  prepare: prepareField,
  init: () => null,
  reduce: (s, e, ctx, p) => {
    const v = p.get(e);
    if (v === undefined) return s;
    return s === null || ctx.time < s.t ? { v: v as Json, t: ctx.time } : s;
  },
  merge: (a, b) => (a === null ? b : b === null ? a : b.t < a.t ? b : a),
  view: (s) => (s === null ? null : s.v),
  example: `first_doc: { from: [extension], key: student, op: first, params: { field: $.doc_id } }`,
};

export const last: Operator<Stamped, FieldParams> = {
  name: 'last',
  summary: 'The latest value of a field (default: the whole event) in event order.',
  params: fieldSchema(false, 'JSON path (default $: the whole event)'),
  prepare: prepareField,
  init: () => null,
  reduce: (s, e, ctx, p) => {
    const v = p.get(e);
    if (v === undefined) return s;
    return s === null || ctx.time >= s.t ? { v: v as Json, t: ctx.time } : s;
  },
  merge: (a, b) => (a === null ? b : b === null ? a : b.t >= a.t ? b : a),
  view: (s) => (s === null ? null : s.v),
  example: `current_doc: { from: [extension], key: student, op: last, params: { field: $.doc_id } }`,
};

export const lastN: Operator<Json[], { get: Accessor; n: number }> = {
  name: 'last_n',
  summary: 'The last N values of a field (default: whole events), oldest first.',
  params: {
    type: 'object',
    required: ['n'],
    additionalProperties: false,
    properties: { n: { type: 'integer', minimum: 1, maximum: 10000 }, field: { type: 'string', pattern: '^\\$' } },
  },
  prepare: (p: { n: number; field?: string }) => ({ n: p.n, get: pathParam('field', p.field ?? '$') }),
  init: () => [],
  reduce: (s, e, _c, p) => {
    const v = p.get(e);
    if (v === undefined) return s;
    s.push(v as Json);
    if (s.length > p.n) s.splice(0, s.length - p.n);
    return s;
  },
  example: `recent_keys: { from: [extension], key: student, where: "event == 'keystroke'", op: last_n, params: { n: 20, field: $.keystroke.key } }`,
};
