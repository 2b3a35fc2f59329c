import type { Operator } from '../engine/types.js';

/** Counts the events of each key. */
export const count: Operator<number, Record<string, never>> = {
  name: 'count',
  summary: 'Number of events of each key.',
  params: { type: 'object', additionalProperties: false, properties: {} },
  init: () => 0,
  reduce: (n) => n + 1,
  merge: (a, b) => a + b,
  viewSchema: { type: 'integer' },
  example: `events: { from: [extension], key: student, op: count }`,
};
