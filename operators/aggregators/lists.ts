// Aggregators that return lists of members: for a teacher's "who needs attention" views.
import type { Aggregator, Json } from '../../engine/types.js';

type Row = { member: string } & Record<string, Json>;

/** Rows sorted by one column: [{member, value}], highest first by default. Use without `of`. */
export const sortedAgg: Aggregator<{ by: string; order?: 'asc' | 'desc'; limit?: number }> = {
  name: 'sorted',
  summary: 'Members sorted by a column ([{member, value}]); members without the value are left out.',
  params: {
    type: 'object',
    required: ['by'],
    additionalProperties: false,
    properties: { by: { type: 'string' }, order: { enum: ['asc', 'desc'] }, limit: { type: 'integer', minimum: 1 } },
  },
  aggregate(values, p) {
    const rows = (values as Row[]).filter((r) => typeof r[p.by] === 'number');
    const sign = p.order === 'asc' ? 1 : -1;
    rows.sort((a, b) => sign * ((a[p.by] as number) - (b[p.by] as number)) || (a.member < b.member ? -1 : 1));
    return rows.slice(0, p.limit ?? rows.length).map((r) => ({ member: r.member, value: r[p.by] }));
  },
  example: `slowest_typists: { op: sorted, params: { by: wpm, order: asc, limit: 5 } }`,
};

/** The members whose rows pass the summary's `where` (e.g. idle for 5 minutes). Use without `of`. */
export const flaggedAgg: Aggregator = {
  name: 'flagged',
  summary: 'The members whose row passes the summary `where` rule (a list of member ids).',
  params: { type: 'object', additionalProperties: false, properties: {} },
  aggregate: (values) => (values as Row[]).map((r) => r.member),
  example: `idle_students: { op: flagged, where: "idle" }`,
};
