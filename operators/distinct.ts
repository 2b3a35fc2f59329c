import type { Json, Operator } from '../engine/types.js';
import type { Accessor } from '../engine/jsonpath.js';
import { keyAt, pathParam } from './params.js';

/** HyperLogLog with 2^P registers: standard error 1.04 / sqrt(2^P) = 1.625% for P = 12. */
const P = 12;
const M = 1 << P;
export const HLL_STANDARD_ERROR = 1.04 / Math.sqrt(M);

/** 32-bit MurmurHash3 finaliser over FNV-1a: well spread, deterministic, no dependency. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface DistinctState {
  /** Exact values while there are at most `exact_up_to` of them. */
  values: string[] | null;
  /** HyperLogLog registers once past the bound (plain JSON: an array of small integers). */
  registers: number[] | null;
}

function addToRegisters(r: number[], value: string): void {
  const h = hash32(value);
  const idx = h >>> (32 - P);
  const rest = (h << P) >>> 0;
  const rank = rest === 0 ? 32 - P + 1 : Math.clz32(rest) + 1;
  if (rank > r[idx]) r[idx] = rank;
}

function estimate(r: number[]): number {
  let sum = 0;
  let zeros = 0;
  for (const x of r) {
    sum += 2 ** -x;
    if (x === 0) zeros++;
  }
  const alpha = 0.7213 / (1 + 1.079 / M);
  const e = (alpha * M * M) / sum;
  // Small-range correction (linear counting).
  return e <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : e;
}

function toRegisters(values: string[]): number[] {
  const r = new Array<number>(M).fill(0);
  for (const v of values) addToRegisters(r, v);
  return r;
}

export const distinct: Operator<DistinctState, { get: Accessor; bound: number }> = {
  name: 'distinct',
  summary: `Count of distinct values of a field: exact up to exact_up_to values, then HyperLogLog (standard error ${(HLL_STANDARD_ERROR * 100).toFixed(2)}%).`,
  params: {
    type: 'object',
    required: ['field'],
    additionalProperties: false,
    properties: {
      field: { type: 'string', pattern: '^\\$' },
      exact_up_to: { type: 'integer', minimum: 1, maximum: 100000, description: 'exact counting up to this many values (default 1000)' },
    },
  },
  prepare: (p: { field: string; exact_up_to?: number }) => ({ get: pathParam('field', p.field), bound: p.exact_up_to ?? 1000 }),
  init: () => ({ values: [], registers: null }),
  reduce(s, e, _c, p) {
    const key = keyAt(p.get, e);
    if (key === undefined) return s;
    if (s.values) {
      if (!s.values.includes(key)) s.values.push(key);
      if (s.values.length > p.bound) {
        s.registers = toRegisters(s.values);
        s.values = null;
      }
    } else addToRegisters(s.registers!, key);
    return s;
  },
  merge(a, b, p) {
    if (a.values && b.values) {
      const values = [...new Set([...a.values, ...b.values])];
      return values.length > p.bound ? { values: null, registers: toRegisters(values) } : { values, registers: null };
    }
    const ra = a.registers ?? toRegisters(a.values!);
    const rb = b.registers ?? toRegisters(b.values!);
    return { values: null, registers: ra.map((x, i) => Math.max(x, rb[i])) };
  },
  view: (s): Json => (s.values ? { count: s.values.length, exact: true } : { count: Math.round(estimate(s.registers!)), exact: false, standard_error: HLL_STANDARD_ERROR }),
  viewSchema: { type: 'object', additionalProperties: false, properties: { count: { type: 'integer' }, exact: { type: 'boolean' }, standard_error: { type: 'number' } } },
  example: `docs_touched: { from: [extension], key: student, op: distinct, params: { field: $.doc_id } }`,
};
