// Numeric aggregators over one column: each a plain object. Non-numbers are left out.
import type { Aggregator, Json } from '../../engine/types.js';

const numbers = (values: Json[]) => values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
const none = { type: 'object', additionalProperties: false, properties: {} } as const;

/** Linear-interpolated percentile (the same definition as numpy's default). */
export function percentileOf(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export const sumAgg: Aggregator = {
  name: 'sum',
  summary: 'Sum of a column.',
  params: none,
  aggregate: (v) => numbers(v).reduce((a, b) => a + b, 0),
  example: `total_events: { op: sum, of: events }`,
};

export const meanAgg: Aggregator = {
  name: 'mean',
  summary: 'Mean of a column (null when no member has a value).',
  params: none,
  aggregate: (v) => {
    const n = numbers(v);
    return n.length ? n.reduce((a, b) => a + b, 0) / n.length : null;
  },
  example: `mean_wpm: { op: mean, of: wpm }`,
};

const extremumAgg = (name: 'min' | 'max', pick: (...v: number[]) => number, what: string): Aggregator => ({
  name,
  summary: `${what} value of a column.`,
  params: none,
  aggregate: (v) => {
    const n = numbers(v);
    return n.length ? pick(...n) : null;
  },
  example: `${name === 'min' ? 'slowest' : 'fastest'}: { op: ${name}, of: wpm }`,
});

export const minAgg = extremumAgg('min', Math.min, 'Smallest');
export const maxAgg = extremumAgg('max', Math.max, 'Largest');

export const percentileAgg: Aggregator<{ p: number }> = {
  name: 'percentile',
  summary: 'The p-th percentile of a column (linear interpolation).',
  params: { type: 'object', required: ['p'], additionalProperties: false, properties: { p: { type: 'number', minimum: 0, maximum: 100 } } },
  aggregate: (v, { p }) => percentileOf(numbers(v).sort((a, b) => a - b), p),
  example: `median_text: { op: percentile, of: text_length, params: { p: 50 } }`,
};

export const medianAgg: Aggregator = {
  name: 'median',
  summary: 'The median of a column.',
  params: none,
  aggregate: (v) => percentileOf(numbers(v).sort((a, b) => a - b), 50),
  example: `median_wpm: { op: median, of: wpm }`,
};
