import type { Aggregator } from '../../engine/types.js';

/**
 * How many members have a truthy value in a column (e.g. `of: idle`). Unlike `count` with `where`, the
 * column's own value decides, so one summary line answers "how many are idle".
 */
export const countTrueAgg: Aggregator = {
  name: 'count_true',
  summary: 'How many members have a truthy value in the column (true, a non-zero number, a non-empty string).',
  params: { type: 'object', additionalProperties: false, properties: {} },
  aggregate: (values) => values.filter((v) => Boolean(v)).length,
  example: `idle_count: { op: count_true, of: idle }`,
};
