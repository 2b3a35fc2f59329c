// Issue #15.2: what the dashboard would silently show empty is a compile error, and one error does not hide
// or multiply the others.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePipeline, formatError } from '../../engine/compiler.js';

const pipelines = join(import.meta.dirname, '../../pipelines');
const compile = async (text: string) => (await compilePipeline(text, join(pipelines, 'x.yaml'))).errors.map(formatError);

const pipeline = (opts: { columns?: string; schema?: string; extra?: string; dashboard?: string } = {}) => `pipeline: t
sources:
  ext: { kind: websocket, path: /wsapi/in/, schema: ${opts.schema ?? 'lo-event'} }
rosters:
  demo: { file: rosters/demo.csv }
keys:
  student: $.auth.user_id
  class: { lookup: demo, by: student, column: class }
reducers:
  score: { from: [ext], key: student, op: stats, params: { field: $.score } }
  n: { from: [ext], key: student, op: count }
  tot: { from: [ext], key: student, op: time_on_task, params: { idle_after: 5m } }
  top: { from: [ext], key: student, op: top_k, params: { field: $.key, k: 3 } }
aggregations:
  overview:
    group_by: class
    columns: { ${opts.columns ?? 'mean_score: score.mean'} }
    summary: { students: { op: count } }
dashboards:
  overview: { aggregation: ${opts.dashboard ?? 'overview'} }
${opts.extra ?? ''}`;

describe('view fields of aggregation columns', () => {
  it('a field the view does not have is an error with did-you-mean', async () => {
    expect(await compile(pipeline({ columns: 'mean_score: score.avg' }))).toEqual([
      expect.stringMatching(/x\.yaml:\d+:\d+: column 'mean_score': the view of 'score' \(stats\) has no field 'avg' \(it has count, sum, mean, variance, stddev, min, max\).*; did you mean 'mean'\?$/),
    ]);
  });

  it('the fields operators declare pass, at any depth they declare', async () => {
    expect(await compile(pipeline({ columns: 'a: score.mean, b: n, c: tot.idle, d: top.0.value, e: tot' }))).toEqual([]);
  });

  it('a field of a number, or a name as a list index, is an error', async () => {
    const errors = await compile(pipeline({ columns: 'a: n.total, b: top.first' }));
    expect(errors).toEqual([
      expect.stringMatching(/column 'a': the view of 'n' \(count\) is a integer: it has no field 'total'/),
      expect.stringMatching(/column 'b': the view of 'top' \(top_k\) is a list: 'first' is not an index/),
    ]);
  });
});

describe('errors are all reported, each once', () => {
  it('an unknown top-level field does not hide the other errors', async () => {
    const errors = await compile(pipeline({ columns: 'mean_score: score.avg', dashboard: 'overveiw', extra: 'dashboards2: {}\n' }));
    expect(errors).toEqual([
      expect.stringMatching(/column 'mean_score'.*did you mean 'mean'\?/),
      expect.stringMatching(/unknown aggregation 'overveiw'.*did you mean 'overview'\?/),
      expect.stringMatching(/unknown field 'dashboards2'/),
    ]);
  });

  it('a source schema that does not load is reported once, not again as unknown streams', async () => {
    const errors = await compile(pipeline({ schema: 'no-such-schema.json' }));
    expect(errors).toEqual([expect.stringMatching(/cannot load event schema 'no-such-schema\.json'/)]);
  });

  it('aggregation: toString (an Object.prototype member) is an unknown aggregation', async () => {
    expect(await compile(pipeline({ dashboard: 'toString' }))).toEqual([expect.stringMatching(/unknown aggregation 'toString'/)]);
  });
});
