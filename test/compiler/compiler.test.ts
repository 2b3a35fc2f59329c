import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { compilePipeline, compilePipelineFile, formatError, type CompileResult } from '../../engine/compiler.js';
import { definitionVersion } from '../../engine/state-version.js';

const pipelines = join(import.meta.dirname, '../../pipelines');

/** A small valid pipeline to break in one place per test. */
const base = (reducers: string, extra = '') => `pipeline: t
sources:
  ext: { kind: websocket, path: /wsapi/in/, schema: lo-event }
rosters:
  demo: { file: rosters/demo.csv }
keys:
  student: $.auth.user_id
  document: $.doc_id
  student_doc: [student, document]
  class: { lookup: demo, by: student, column: class }
reducers:
${reducers}${extra}`;

const compile = (text: string) => compilePipeline(text, join(pipelines, 'broken.yaml'));

describe('compiler', () => {
  it('compiles the demo pipeline: levels, order, versions, streams', async () => {
    const { pipeline, errors } = await compilePipelineFile(join(pipelines, 'writing-observer.yaml'));
    expect(errors).toEqual([]);
    expect(pipeline!.reducers.map((r) => `${r.name}:${r.level}`)).toEqual([
      'events:0', 'time_on_task:0', 'typing:0', 'text:0', 'bursts:0', 'burst_stats:1',
    ]);
    expect(pipeline!.streams.get('burst')).toEqual({ name: 'burst', producer: 'bursts', consumers: ['burst_stats'] });
    expect(new Set(pipeline!.reducers.map((r) => r.version)).size).toBe(6);
    expect(pipeline!.keys.get('student_doc')!.extract({ auth: { user_id: 's1' }, doc_id: 'd' })).toBe('s1|d');
    expect(pipeline!.keys.get('class')!.extract({ auth: { user_id: 's-0001' } })).toBe('class-b');
  });

  it('changes only the edited reducer’s version', async () => {
    const a = await compile(base(`  n: { from: [ext], key: student, op: count }\n  m: { from: [ext], key: student, op: time_on_task, params: { idle_after: 5m } }\n`));
    const b = await compile(base(`  n: { from: [ext], key: student, op: count }\n  m: { from: [ext], key: student, op: time_on_task, params: { idle_after: 2m } }\n`));
    const v = (r: typeof a) => Object.fromEntries(r.pipeline!.reducers.map((x) => [x.name, x.version]));
    expect(v(a).n).toBe(v(b).n);
    expect(v(a).m).not.toBe(v(b).m);
  });

  it('versions a reader of an emitted stream by its upstream too: a breaking edit upstream moves it, a stateless one moves nothing', async () => {
    const text = readFileSync(join(pipelines, 'writing-observer.yaml'), 'utf8');
    const at = (t: string) => compilePipeline(t, join(pipelines, 'writing-observer.yaml'));
    const v = (r: CompileResult) => Object.fromEntries(r.pipeline!.reducers.map((x) => [x.name, x.version]));
    const demo = v(await at(text));
    const moved = (r: CompileResult) => Object.keys(demo).filter((n) => v(r)[n] !== demo[n]);
    // State-breaking edit of `bursts` (it emits `burst`): `burst_stats`, which reads `burst`, moves with it.
    expect(moved(await at(text.replace('params: { gap: 2s }', 'params: { gap: 3s }')))).toEqual(['bursts', 'burst_stats']);
    // Stateless edits (dashboard, aggregation, archive, source options, description) and a state-compatible
    // one (a reducer added that emits nothing `burst_stats` reads) move no version.
    const stateless = text
      .replace('min_interval: 500ms', 'min_interval: 2s')
      .replace('      mean_burst: burst_stats.mean\n', '')
      .replace('commit_every: 10s', 'commit_every: 30s')
      .replace('path: /v1/events,', 'path: /v2/events,')
      .replace('description: Per-student', 'description: Per-learner')
      .replace('reducers:\n', 'reducers:\n  docs: { from: [extension], key: student, op: distinct, params: { field: $.doc_id }, emit: doc }\n');
    expect(moved(await at(stateless))).toEqual([]);
    // A second producer of `burst` changes what `burst_stats` folds.
    expect(moved(await at(text.replace('reducers:\n', 'reducers:\n  more: { from: [batch], key: student, op: session_window, params: { gap: 1s }, emit: burst }\n')))).toEqual(['burst_stats']);
    // A redefined key moves every reducer keyed by it, and their readers.
    expect(moved(await at(text.replace('document:    $.doc_id', 'document:    $.doc')))).toEqual(['text']);
    // A reducer that reads only sources keeps the version of its own definition (stores of earlier loflow stay current).
    expect(demo.time_on_task).toBe(definitionVersion({ op: 'time_on_task', params: { idle_after: '5m' }, time: '$.ts ?? $.metadata.iso_ts' }, ['extension', 'batch'], '$.auth.user_id'));
  });

  it('reports YAML syntax errors at line:column', async () => {
    const { errors } = await compile('pipeline: t\nsources: [a\nreducers: {}\n');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0].line).toBeGreaterThanOrEqual(2);
    expect(errors[0].message).toMatch(/^YAML/);
  });

  it('reports duplicate names (duplicate mapping keys and a reducer named like a source)', async () => {
    const dup = await compile(base(`  n: { from: [ext], key: student, op: count }\n  n: { from: [ext], key: student, op: count }\n`));
    expect(dup.errors.map(formatError)).toEqual([expect.stringMatching(/broken\.yaml:13:3: duplicate name/)]);
    const clash = await compile(base(`  ext: { from: [ext], key: student, op: count }\n`));
    expect(clash.errors[0]).toMatchObject({ line: 12, column: 3, message: "duplicate name: 'ext' is both a source and a reducer" });
  });

  it('reports schema violations with did-you-mean for unknown fields', async () => {
    const { errors } = await compile(base(`  n: { from: [ext], key: student, op: count, wher: "x == 'a'" }\n`));
    expect(errors).toEqual([expect.objectContaining({ line: 12, column: 46, path: 'reducers.n.wher', message: "unknown field 'wher'", hint: "did you mean 'where'?" })]);
  });

  it('reports an unknown operator with a did-you-mean hint', async () => {
    const { errors } = await compile(base(`  bursts: { from: [ext], key: student, op: sesion_window, params: { gap: 2s } }\n`));
    expect(formatError(errors[0])).toMatch(/broken\.yaml:12:44: unknown operator 'sesion_window' \(at reducers\.bursts\.op\); did you mean 'session_window'\?/);
  });

  it('reports bad params: unknown parameter, wrong type, bad duration', async () => {
    const { errors } = await compile(
      base(`  a: { from: [ext], key: student, op: time_on_task, params: { idle: 5m } }
  b: { from: [ext], key: student, op: stats, params: { field: 3 } }
  c: { from: [ext], key: student, op: session_window, params: { gap: soon } }
`),
    );
    expect(errors.map((e) => [e.line, e.path, e.message])).toEqual([
      [12, 'reducers.a.params.idle', "operator 'time_on_task' has no parameter 'idle'"],
      [13, 'reducers.b.params.field', expect.stringContaining("bad params for 'stats'")],
      [14, 'reducers.c.params.gap', "bad params for 'session_window': /gap must be a duration: 500ms, 2s, 5m, 1h30m, or a number of milliseconds"],
    ]);
  });

  it('reports unknown streams, keys, rosters, reducers and aggregators, all at once', async () => {
    const { errors } = await compile(
      base(
        `  a: { from: [extension], key: studnt, op: count }\n`,
        `aggregations:\n  o: { group_by: class, columns: [b], summary: { x: { op: avg, of: b } } }\ndashboards:\n  d: { aggregation: oo }\n`,
      ),
    );
    const msgs = errors.map((e) => `${e.line}:${e.column} ${e.message}${e.hint ? ' / ' + e.hint : ''}`);
    expect(msgs).toEqual([
      "12:15 unknown stream 'extension' / did you mean 'ext'?",
      "12:32 unknown key 'studnt' / did you mean 'student'?",
      "14:35 unknown reducer 'b' / did you mean 'a'?",
      "14:59 unknown aggregator 'avg' / known: count, sum, mean, min, max, median, percentile, sorted, flagged",
      "16:21 unknown aggregation 'oo' / did you mean 'o'?",
    ]);
  });

  it('reports a cycle and names its nodes', async () => {
    const { errors } = await compile(
      base(`  a: { from: [ext, y], key: student, op: session_window, params: { gap: 2s }, emit: x }
  b: { from: [x], key: student, op: session_window, params: { gap: 2s }, emit: y }
`),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/^cycle: a -> b -> a/);
  });

  it('reports a bad JSON path at the column of the bad character', async () => {
    const { errors } = await compile(base(`  a: { from: [ext], key: student, op: count }\n`).replace('$.doc_id', '$.doc..id'));
    expect(errors[0]).toMatchObject({ line: 8, path: 'keys.document', message: expect.stringContaining('bad JSON path') });
    expect(errors[0].column).toBe(13 + 6);
  });

  it('reports a bad expression at its column inside the string', async () => {
    const { errors } = await compile(base(`  a: { from: [ext], key: student, where: "event == 'a' &&", op: count }\n`));
    expect(errors[0]).toMatchObject({ line: 12, path: 'reducers.a.where', message: expect.stringMatching(/^bad expression/) });
    expect(errors[0].column).toBe(43 + 15);
  });

  it('reports a consumer reading a field the producer does not emit (type mismatch)', async () => {
    const { errors } = await compile(
      base(`  bursts: { from: [ext], key: student, op: session_window, params: { gap: 2s }, emit: burst }
  s: { from: [burst], key: student, op: stats, params: { field: $.cnt } }
`),
    );
    expect(errors).toEqual([
      expect.objectContaining({ line: 13, path: 's.params.field'.replace(/^/, 'reducers.'), message: expect.stringContaining("reads $.cnt from stream 'burst', but 'bursts' (session_window) emits only"), hint: "did you mean 'count'?" }),
    ]);
  });

  it('refuses a column whose reducer is not keyed by the member', async () => {
    const { errors } = await compile(
      base(`  d: { from: [ext], key: document, op: count }\n`, `aggregations:\n  o: { group_by: class, columns: [d] }\n`),
    );
    expect(errors[0].message).toMatch(/reducer 'd' is keyed by 'document': it cannot be shown per student/);
  });

  it('loads a custom operator module and validates its params', async () => {
    const ok = await compile(base(`  w: { from: [ext], key: student, op: ./operators/longest-word.ts, params: { field: $.keystroke.key } }\n`));
    expect(ok.errors).toEqual([]);
    const w = ok.pipeline!.reducers[0];
    let s = w.op.init(w.params);
    for (const key of ['c', 'a', 't', ' ', 'o', 'x']) s = w.op.reduce(s, { keystroke: { key } }, { key: 'k', time: 0, emit() {}, late() {} }, w.params);
    expect(s).toEqual({ longest: 'cat', current: 'ox' });
    const bad = await compile(base(`  w: { from: [ext], key: student, op: ./operators/nope.ts }\n`));
    expect(bad.errors[0].message).toMatch(/cannot load operator module '\.\/operators\/nope\.ts'/);
  });
});
