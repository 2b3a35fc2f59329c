// The `partitions:` section and reducer placement (docs/scale-out.md §2): defaults, the routing key's rules,
// and the placement of reducers behind exchange edges (re-keying across partitions, and back) when P > 1.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compilePipeline, compilePipelineFile, formatError } from '../../engine/compiler.js';
import { exchangeOrderWarnings } from '../../engine/compiler/partitions.js';

const pipelines = join(import.meta.dirname, '../../pipelines');

const base = (reducers: string, partitions = '', extra = '') => `pipeline: t
sources:
  ext: { kind: websocket, path: /wsapi/in/, schema: lo-event }
rosters:
  demo: { file: rosters/demo.csv }
keys:
  student: $.auth.user_id
  learner: $.auth.user_id
  document: $.doc_id
  student_doc: [student, document]
  doc_student: [document, student]
  class: { lookup: demo, by: student, column: class }
${partitions}reducers:
${reducers}${extra}`;

const compile = (text: string) => compilePipeline(text, join(pipelines, 'p.yaml'));
const placements = (p: { reducers: Array<{ name: string; placement?: string }> }) => Object.fromEntries(p.reducers.map((r) => [r.name, r.placement]));

const mixed = `  n: { from: [ext], key: student, op: count }
  same_path: { from: [ext], key: learner, op: count }
  per_doc: { from: [ext], key: student_doc, op: count }
  doc_first: { from: [ext], key: doc_student, op: count }
  by_class: { from: [ext], key: class, op: count }
  by_doc: { from: [ext], key: document, op: count }
`;

describe('partitions: and placement', () => {
  it('without the section: one partition, routed by student, today’s pipeline (the demo’s reducers are all local)', async () => {
    const { pipeline, errors } = await compilePipelineFile(join(pipelines, 'writing-observer.yaml'));
    expect(errors).toEqual([]);
    expect({ count: pipeline!.partitions!.count, by: pipeline!.partitions!.by }).toEqual({ count: 1, by: 'student' });
    expect(new Set(Object.values(placements(pipeline!)))).toEqual(new Set(['local']));
  });

  it('places by key: local when the key holds the routing key (itself, the same path, a composite part), else exchange; P = 1 runs both', async () => {
    const { pipeline, errors } = await compile(base(mixed));
    expect(errors).toEqual([]);
    expect(placements(pipeline!)).toEqual({ n: 'local', same_path: 'local', per_doc: 'local', doc_first: 'local', by_class: 'exchange', by_doc: 'exchange' });
  });

  it('a section without count has 64 partitions by student; `by` names another routing key', async () => {
    const a = await compile(base(`  n: { from: [ext], key: student, op: count }\n`, 'partitions: {}\n'));
    expect(a.errors).toEqual([]);
    expect({ count: a.pipeline!.partitions!.count, by: a.pipeline!.partitions!.by }).toEqual({ count: 64, by: 'student' });
    const b = await compile(base(`  n: { from: [ext], key: document, op: count }\n  m: { from: [ext], key: student_doc, op: count }\n`, 'partitions: { count: 8, by: document }\n'));
    expect(b.errors).toEqual([]);
    expect(placements(b.pipeline!)).toEqual({ n: 'local', m: 'local' });
    expect(b.pipeline!.partitions!.route!({ doc_id: 'd-1', auth: { user_id: 's' } })).toBe('d-1');
  });

  it('with P > 1, compiles exchange reducers (their items cross partitions, docs/scale-out.md §6), placed exchange', async () => {
    const { pipeline, errors } = await compile(base(mixed, 'partitions: { count: 4 }\n'));
    expect(errors).toEqual([]);
    expect(placements(pipeline!)).toMatchObject({ by_class: 'exchange', by_doc: 'exchange' });
  });

  it('with P > 1, places a routing-keyed reducer reading what an exchange reducer emits as rekey (back to its learner\'s partition), and warns for order-sensitive ones', async () => {
    const reducers = `  bursts: { from: [ext], key: class, op: session_window, params: { gap: 2s }, emit: burst }
  burst_stats: { from: [burst], key: student, op: stats, params: { field: $.count } }
  last_burst: { from: [burst], key: student, op: last_n, params: { n: 3, field: $.count } }
  class_stats: { from: [burst], key: class, op: stats, params: { field: $.count } }
  n: { from: [ext], key: student, op: count }
`;
    const { pipeline, errors } = await compile(base(reducers, 'partitions: { count: 2 }\n'));
    expect(errors).toEqual([]);
    expect(placements(pipeline!)).toEqual({ bursts: 'exchange', burst_stats: 'rekey', last_burst: 'rekey', class_stats: 'exchange', n: 'local' });
    expect(exchangeOrderWarnings(pipeline!)).toEqual([
      expect.stringMatching(/^reducer 'bursts' \(session_window\) is keyed by 'class', behind an exchange edge, and its operator is order-sensitive: with partitions.count 2/),
      expect.stringMatching(/^reducer 'last_burst' \(last_n\) is re-keyed back to 'student' from what an exchange reducer emits, and its operator is order-sensitive/),
    ]);
    // With one partition nothing crosses: the same reducers are local.
    const one = await compile(base(reducers, 'partitions: { count: 1 }\n'));
    expect(one.errors).toEqual([]);
    expect(placements(one.pipeline!)).toMatchObject({ burst_stats: 'local', last_burst: 'local' });
    expect(exchangeOrderWarnings(one.pipeline!)).toEqual([]);
  });

  it('refuses a routing key that is unknown, composite or a roster lookup, an aggregation per another member, and a bad count', async () => {
    const one = `  n: { from: [ext], key: student, op: count }\n`;
    const messages = async (partitions: string, extra = '') => (await compile(base(one, partitions, extra))).errors.map((e) => e.message);
    expect(await messages('partitions: { count: 4, by: pupil }\n')).toEqual(["routing key 'pupil' is not a key of keys: (keys: student, learner, document, student_doc, doc_student, class); name one with partitions.by"]);
    expect(await messages('partitions: { by: student_doc }\n')).toEqual([expect.stringMatching(/^routing key 'student_doc' must be a JSON path key: a composite key cannot route/)]);
    expect(await messages('partitions: { by: class }\n')).toEqual([expect.stringMatching(/^routing key 'class' must be a JSON path key: a roster lookup changes when the roster does/)]);
    expect(await messages('partitions: { count: 0 }\n')).toEqual([expect.stringMatching(/must be >= 1/)]);
    expect(await messages('partitions: { count: 4, hash: md5 }\n')).toEqual(["unknown field 'hash'"]);
    const withAggregation = `aggregations:
  overview: { group_by: class, columns: { n: n } }
`;
    const doc = await compile(base(`  n: { from: [ext], key: doc_student, op: count }\n`, 'partitions: { count: 4, by: document }\n', withAggregation));
    expect(doc.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^aggregation 'overview' has a row per 'student', but partitions route by 'document'/)]);
    // A column from an exchange reducer keyed by the group: read from the group's partition, compiles.
    const classColumn = `aggregations:
  overview: { group_by: class, columns: { n: n, per_class: by_class } }
`;
    const col = await compile(base(`  n: { from: [ext], key: student, op: count }\n  by_class: { from: [ext], key: class, op: count }\n`, 'partitions: { count: 4 }\n', classColumn));
    expect(col.errors).toEqual([]);
    // One keyed by something else is refused as for P = 1 (it cannot be shown per student).
    const docColumn = `aggregations:
  overview: { group_by: class, columns: { n: n, per_doc: by_doc } }
`;
    const bad = await compile(base(`  n: { from: [ext], key: student, op: count }\n  by_doc: { from: [ext], key: document, op: count }\n`, 'partitions: { count: 4 }\n', docColumn));
    expect(bad.errors.map(formatError)).toEqual([expect.stringMatching(/reducer 'by_doc' is keyed by 'document': it cannot be shown per student .*\(at aggregations.overview.columns.per_doc\)$/)]);
  });

  it('a key-less routing: without a `student` key and no section, P = 1 needs none', async () => {
    const text = `pipeline: t
sources:
  ext: { kind: websocket, path: /wsapi/in/, schema: lo-event }
keys:
  doc: $.doc_id
reducers:
  n: { from: [ext], key: doc, op: count }
`;
    const { pipeline, errors } = await compile(text);
    expect(errors).toEqual([]);
    expect(pipeline!.partitions).toEqual({ count: 1, by: null });
    expect((await compile(`${text}partitions: { count: 2 }\n`)).errors.map((e) => e.message)).toEqual([
      "routing key 'student' (the default) is not a key of keys: (keys: doc); name one with partitions.by",
    ]);
  });
});
