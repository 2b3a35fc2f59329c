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
  viewSchema: { type: 'number' },
  example: `chars: { from: [burst], key: student, op: sum, params: { field: $.count } }`,
};

/** min and max differ only in the comparison: one definition serves both. */
function extremum(name: 'min' | 'max', pick: (a: number, b: number) => number, what: string, example: string): Operator<number | null, FieldParams> {
  const combine = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : pick(a, b));
  return {
    name,
    summary: `${what} value of a numeric field (null before any).`,
    params: fieldSchema(true, 'JSON path of the number'),
    prepare: prepareField,
    init: () => null,
    reduce: (s, e, _c, p) => combine(s, numberAt(p.get, e) ?? null),
    merge: combine,
    viewSchema: { type: ['number', 'null'] },
    example,
  };
}

export const min = extremum('min', Math.min, 'Smallest', `shortest_burst: { from: [burst], key: student, op: min, params: { field: $.count } }`);
export const max = extremum('max', Math.max, 'Largest', `longest_burst: { from: [burst], key: student, op: max, params: { field: $.count } }`);

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
  viewSchema: {}, // the field's value: any JSON
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
  viewSchema: {}, // the field's value: any JSON
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
  viewSchema: { type: 'array' },
  example: `recent_keys: { from: [extension], key: student, where: "event == 'keystroke'", op: last_n, params: { n: 20, field: $.keystroke.key } }`,
};
