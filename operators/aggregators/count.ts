import type { Aggregator } from '../../engine/types.js';

export const countAgg: Aggregator = {
  name: 'count',
  summary: 'How many members have a value (or pass `where`, without `of`).',
  params: { type: 'object', additionalProperties: false, properties: {} },
  aggregate: (values) => values.length,
  example: `active_students: { op: count, where: "!idle" }`,
};
