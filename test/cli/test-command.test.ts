// `loflow test`: runs the real binary (bin/loflow.js -> dist/, built by `npm test` before vitest starts)
// on the shipped pipelines, on broken edits of the demo, and on small pipelines written here.
import { describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { matchValue, refresh } from '../../engine/testing/match.js';
import { root, run } from './run-cli.js';


/** A copy of the demo pipeline, its tests and roster in a fresh folder, with `edit` applied to the pipeline. */
function demoCopy(edit: (yaml: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-test-'));
  copyFileSync(join(root, 'pipelines/writing-observer.test.yaml'), join(dir, 'writing-observer.test.yaml'));
  cpSync(join(root, 'pipelines/rosters'), join(dir, 'rosters'), { recursive: true });
  const yaml = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8');
  const edited = edit(yaml);
  expect(edited, 'the edit applies').not.toBe(yaml);
  writeFileSync(join(dir, 'writing-observer.yaml'), edited);
  return join(dir, 'writing-observer.yaml');
}

// A small pipeline: a count, a session window that emits `burst`, and a stats over bursts; any JSON object is an event.
const SMALL = `pipeline: small
sources:
  in: { kind: http, schema: any }
keys:
  user: $.user
reducers:
  n:        { from: [in], key: user, op: count }
  sessions: { from: [in], key: user, op: session_window, params: { gap: 10 }, emit: burst, where: "kind == 'k'" }
  sizes:    { from: [burst], key: user, op: stats, params: { field: $.count } }
`;

function small(tests: string, inline = false): { dir: string; pipeline: string; tests: string } {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-test-'));
  const pipeline = join(dir, 'small.yaml');
  const testFile = join(dir, 'small.test.yaml');
  if (inline) writeFileSync(pipeline, `${SMALL}${tests}`);
  else {
    writeFileSync(pipeline, SMALL);
    writeFileSync(testFile, tests);
  }
  return { dir, pipeline, tests: inline ? pipeline : testFile };
}

describe('loflow test: the shipped pipelines', () => {
  it('every pipeline in pipelines/ that has tests passes them (exit 0)', async () => {
    const dir = join(root, 'pipelines');
    const withTests = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f) && !f.endsWith('.test.yaml'))
      .filter((f) => existsSync(join(dir, f.replace(/\.ya?ml$/, '.test.yaml'))) || /^tests:/m.test(readFileSync(join(dir, f), 'utf8')));
    expect(withTests).toContain('writing-observer.yaml');
    for (const f of withTests) {
      const r = await run('test', `pipelines/${f}`);
      expect(r.stdout + r.stderr, f).toMatch(/\n\d+ passed, 0 failed\n$/);
      expect(r.code, f).toBe(0);
    }
  });

  it('the demo tests cover reducers, a cascade, an aggregation and rejections', () => {
    const { tests } = parse(readFileSync(join(root, 'pipelines/writing-observer.test.yaml'), 'utf8')) as { tests: Array<{ expect: any[]; input: any[] }> };
    const expectations = tests.flatMap((t) => t.expect);
    const reducers = new Set(expectations.filter((e) => e.reducer && e.key).map((e) => e.reducer));
    expect([...reducers].sort()).toEqual(['burst_stats', 'bursts', 'events', 'text', 'time_on_task', 'typing']);
    expect(expectations.some((e) => e.reducer === 'bursts' && Array.isArray(e.emitted) && e.emitted.length > 0)).toBe(true);
    expect(expectations.some((e) => e.aggregation === 'class_overview' && e.summary)).toBe(true);
    expect(expectations.filter((e) => e.rejected).map((e) => e.rejected.stage)).toEqual(['ingest', 'reducer:text']);
    expect(tests.some((t) => t.input.some((i) => 'burst' in i))).toBe(true); // a derived stream fed directly
  });
});

describe('loflow test: the README', () => {
  it('the example test in "Pipeline tests" passes on the demo pipeline', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Pipeline tests: `loflow test`'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)![1];
    const file = join(mkdtempSync(join(tmpdir(), 'loflow-test-')), 'readme.test.yaml');
    writeFileSync(file, example);
    const r = await run('test', 'pipelines/writing-observer.yaml', '--tests', file);
    expect(r.stdout).toContain('1 passed, 0 failed');
    expect(r.code).toBe(0);
  });
});

describe('loflow test: a broken edit of the demo is caught', () => {
  it('a changed session gap: the cascade test fails with file:line and the difference', async () => {
    const file = demoCopy((y) => y.replace('params: { gap: 2s }', 'params: { gap: 5s }'));
    const r = await run('test', file);
    expect(r.code).toBe(1);
    const testFile = file.replace(/\.yaml$/, '.test.yaml');
    const lines = readFileSync(testFile, 'utf8').split('\n');
    const emittedLine = lines.findIndex((l) => /^\s+- reducer: bursts$/.test(l)) + 1;
    expect(r.stdout).toContain(`FAIL  a pause of 2 s or more closes a burst, which burst_stats counts (cascade)`);
    expect(r.stdout).toContain(`${testFile}:${emittedLine}:9: reducer 'bursts': emitted events`);
    expect(r.stdout).toMatch(/at \[0\]:\n\s+- expected: \{ key: s-0000, window_start: 1000, window_end: 2000, count: 3.*\n\s+\+ actual: {3}\(missing\)/);
    expect(r.stdout).toMatch(/reducer 'burst_stats', key 's-0000': view\n.*no state for this key/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('14 passed, 1 failed');
  });

  it('a changed where: the typing reducer now sees other events', async () => {
    const file = demoCopy((y) => y.replace("    where: event == 'keystroke' && keystroke.type == 'keydown'   # one of each key's keydown/keypress/keyup\n    op: words_per_minute", "    where: (event == 'keystroke' && keystroke.type == 'keydown') || event == 'visibility'\n    op: words_per_minute"));
    const r = await run('test', file, '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: false, failed: 1 });
    const failed = out.pipelines[0].tests.filter((t: any) => !t.ok);
    expect(failed.map((t: any) => t.name)).toEqual(['only keystrokes reach the typing reducer (its where)']);
    expect(failed[0].failures[0]).toMatchObject({ what: "reducer 'typing', key 's-0001': absent", mismatches: [{ path: '', actual: { wpm: 0, keystrokes: 1 }, note: 'expected no state for this key' }] });
  });
});

describe('loflow test: --tests runs another file\'s tests', () => {
  it('the demo tests catch the idle-2m example edit (the one `loflow plan` calls state-breaking)', async () => {
    const r = await run('test', 'pipelines/examples/writing-observer.idle-2m.yaml', '--tests', 'pipelines/writing-observer.test.yaml');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}active time leaves out gaps over idle_after \(5m\)[^\n]*\n\s+pipelines\/writing-observer\.test\.yaml:\d+:9: reducer 'time_on_task', key 's-0000': view\n\s+at \.active_ms: expected 310000, got 130000\n\s+at \.sessions: expected 2, got 3\n/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('14 passed, 1 failed');
    expect((await run('test', 'pipelines/writing-observer.yaml', '--tests', 'nope.yaml')).code).toBe(2);
  });
});

describe('loflow test: matching', () => {
  const exact = { mode: 'exact', arrays: 'exact' } as const;
  const subset = { mode: 'subset', arrays: 'exact' } as const;

  it('exact reports missing and unexpected keys with their paths; subset ignores unlisted keys', () => {
    expect(matchValue({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 3, d: 4 } }, exact)).toEqual([
      { path: '.b.c', expected: 2, actual: 3 },
      { path: '.b.d', expected: expect.anything(), actual: 4, note: expect.stringMatching(/unexpected key/) },
    ]);
    expect(matchValue({ b: { c: 3 } }, { a: 1, b: { c: 3, d: 4 } }, subset)).toEqual([]);
    expect(matchValue({ 'x y': [1, 2] }, { 'x y': [1] }, exact)).toEqual([{ path: '["x y"][1]', expected: 2, actual: expect.anything() }]);
    expect(matchValue(1, '1', exact)).toHaveLength(1);
  });

  it('approx: absolute tolerance, relative tolerance, and float noise only', () => {
    expect(matchValue({ approx: 3.2, tolerance: 0.01 }, 3.205, exact)).toEqual([]);
    expect(matchValue({ approx: 3.2, tolerance: 0.01 }, 3.22, exact)).toHaveLength(1);
    expect(matchValue({ approx: 1000, relative: 0.01 }, 1009, exact)).toEqual([]);
    expect(matchValue({ approx: 1000, relative: 0.01 }, 1011, exact)).toHaveLength(1);
    expect(matchValue({ approx: 0.3 }, 0.1 + 0.2, exact)).toEqual([]);
    expect(matchValue({ approx: 0.3 }, 0.31, exact)).toHaveLength(1);
    expect(matchValue({ approx: 1 }, '1', exact)).toHaveLength(1);
  });

  it('arrays under subset: exact (same length), contains (any order), ordered (gaps allowed)', () => {
    const actual = [{ id: 1, x: 'a' }, { id: 2, x: 'b' }, { id: 3, x: 'c' }];
    expect(matchValue([{ id: 3 }, { id: 1 }], actual, { mode: 'subset', arrays: 'contains' })).toEqual([]);
    expect(matchValue([{ id: 3 }, { id: 1 }], actual, { mode: 'subset', arrays: 'ordered' })).toHaveLength(1);
    expect(matchValue([{ id: 1 }, { id: 3 }], actual, { mode: 'subset', arrays: 'ordered' })).toEqual([]);
    expect(matchValue([{ id: 1 }, { id: 1 }], actual, { mode: 'subset', arrays: 'contains' })).toHaveLength(1); // distinct elements
    expect(matchValue([{ id: 1 }, { id: 2 }], actual, subset)).toEqual([{ path: '[2]', expected: expect.anything(), actual: { id: 3, x: 'c' }, note: 'unexpected element' }]);
  });

  it('refresh keeps the author’s shape: subset keys and approx matchers', () => {
    expect(refresh({ a: 1, t: { approx: 2, tolerance: 0.5 } }, { a: 5, t: 9, z: 0 }, subset)).toEqual({ a: 5, t: { approx: 9, tolerance: 0.5 } });
    expect(refresh({ a: 1 }, { a: 5, z: 0 }, exact)).toEqual({ a: 5, z: 0 });
  });
});

describe('loflow test: writing and running tests', () => {
  it('inline tests, a starting state, a derived stream as input, emitted events filtered by key', async () => {
    const { pipeline } = small(
      `tests:
  - name: sessions
    state:
      n: { u1: 10, u9: 4 }
    input:
      - in: [{ user: u1, kind: k, ts: 1 }, { user: u1, kind: k, ts: 5 }, { user: u2, kind: k, ts: 6 }, { user: u1, kind: k, ts: 30 }, { user: u1, kind: x, ts: 31 }]
      - burst: { user: u3, count: 7 }
    expect:
      - { reducer: n, key: u1, state: 14 }
      - { reducer: n, key: u9, view: 4 }
      - { reducer: n, key: u3, absent: true }
      - { reducer: sessions, key: u1, emitted: [{ count: 2, window_start: 1, window_end: 5 }], match: subset }
      - { reducer: sizes, key: u3, view: { count: 1, mean: 7 }, match: subset }
      - { reducer: sizes, key: u1, view: { mean: { approx: 2 } }, match: subset }
`,
      true,
    );
    const r = await run('test', pipeline);
    expect(r.stdout).toContain('1 passed, 0 failed');
    expect(r.code).toBe(0);
  });

  it('an unexpected rejection fails the test at the input line; an expected one passes', async () => {
    const { pipeline, tests } = small(`tests:
  - name: not an object
    input:
      - in: { user: u1 }
      - in: 42
    expect:
      - { reducer: n, key: u1, view: 1 }
  - name: not an object, expected
    input:
      - in: 42
    expect:
      - rejected: { reason: must be a JSON object, stream: in }
`);
    const r = await run('test', pipeline);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${tests}:5:9: input on 'in'\n        unexpected rejection [ingest]: an event must be a JSON object (expect it with`);
    expect(r.stdout).toContain('PASS  not an object, expected');
    expect(r.stdout).toContain('1 passed, 1 failed');
  });

  it('bad tests: every problem at file:line:col with a hint, and nothing runs', async () => {
    const { pipeline, tests } = small(`tests:
  - name: typos
    input:
      - inn: { user: u1 }
    expect:
      - { reducer: nn, key: u1, view: 1 }
      - { reducer: n, key: u1, veiw: 1 }
      - { aggregation: nope, group: a }
      - { reducer: n, key: u1 }
`);
    const r = await run('test', pipeline);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`${tests}:7:32: unknown field 'veiw' (at tests.0.expect.1.veiw); did you mean 'view'?`]);
    writeFileSync(tests, readFileSync(tests, 'utf8').replace('veiw', 'view'));
    const again = await run('test', pipeline);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toEqual([
      `${tests}:4:9: unknown stream 'inn' (at tests.0.input.0.inn); did you mean 'in'?`,
      `${tests}:6:20: unknown reducer 'nn' (at tests.0.expect.0.reducer); did you mean 'n'?`,
      `${tests}:8:24: unknown aggregation 'nope' (at tests.0.expect.2.aggregation)`,
    ]);
    expect(again.stdout).not.toMatch(/PASS|FAIL/);
  });

  it('an operator whose init throws fails its test with the dead-lettered reason, and the other tests still run', async () => {
    const { dir, pipeline } = small(`tests:
  - { name: crashes, input: [{ in: { user: u1 } }], expect: [{ reducer: n, key: u1, view: 1 }] }
  - { name: fine, input: [{ burst: { user: u1, count: 2 } }], expect: [{ reducer: sizes, key: u1, view: { count: 1 }, match: subset }] }
`);
    writeFileSync(
      join(dir, 'boom.mjs'),
      `export default { name: 'boom', summary: 'x', params: { type: 'object' }, example: '', init() { throw new Error('cannot start'); }, reduce: (s) => s };\n`,
    );
    writeFileSync(pipeline, SMALL.replace('op: count }', 'op: count }\n  b:        { from: [in], key: user, op: ./boom.mjs }'));
    const r = await run('test', pipeline);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}crashes[^\n]*\n.*small\.test\.yaml:2:30: input on 'in'\n\s+unexpected rejection \[reducer:b\]: b \(boom\): init failed: cannot start/);
    expect(r.stdout).toContain('PASS  fine');
    expect(r.stdout).toContain('1 passed, 1 failed');
  });

  it('a value field left blank (`view:`) is recorded, not compared with null', async () => {
    const { pipeline, tests } = small(`tests:
  - name: blank
    input: [{ in: { user: u1 } }]
    expect:
      - reducer: n
        key: u1
        state:
`);
    const r = await run('test', pipeline);
    expect(r.stdout).toContain("reducer 'n', key 'u1': state\n        no expected value: `loflow test --update` records it (actual: 1)");
    await run('test', pipeline, '--update');
    expect(readFileSync(tests, 'utf8')).toMatch(/ {8}key: u1\n {8}state: 1\n$/);
  });

  it('--filter runs only matching tests; no match exits 1', async () => {
    const { pipeline } = small(`tests:
  - { name: first one, input: [{ in: { user: u1 } }], expect: [{ reducer: n, key: u1, view: 1 }] }
  - { name: second one, input: [{ in: { user: u1 } }], expect: [{ reducer: n, key: u1, view: 99 }] }
`);
    const first = await run('test', pipeline, '--filter', 'FIRST');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('PASS  first one');
    expect(first.stdout).not.toContain('second');
    const none = await run('test', pipeline, '--filter', 'third');
    expect(none.code).toBe(1);
    expect(none.stdout).toContain("no test name contains 'third'");
  });

  it('--update records missing values and `expect: record`, keeps comments, leaves a failing value alone', async () => {
    const source = `# top comment
tests:
  # a test whose expectation is still to be written
  - name: record me
    input:
      - in: [{ user: u1, kind: k, ts: 1 }, { user: u1, kind: k, ts: 50 }]   # two sessions
    expect:
      - reducer: n        # the count
        key: u1
      - { reducer: sessions, key: u1 }
  - name: snapshot
    input: [{ in: { user: u2, kind: k, ts: 3 } }]
    expect: record
  - name: wrong on purpose
    input: [{ in: { user: u3 } }]
    expect:
      - { reducer: n, key: u3, view: 5 }   # keep this comment
`;
    const { pipeline, tests } = small(source);
    const r = await run('test', pipeline, '--update');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/updated .*small\.test\.yaml: 4 expectations recorded, 0 rewritten/);
    expect(r.stdout).toContain(`${tests}:17:9: reducer 'n', key 'u3': view: failing, kept as written (actual: 1); \`--update --force\` rewrites it`);
    expect(r.stdout).toContain('2 passed, 1 failed');
    const written = readFileSync(tests, 'utf8');
    expect(written).toBe(
      source
        .replace('        key: u1\n', '        key: u1\n        view: 2\n')
        // A flow mapping that would get too wide becomes block style (its pairs kept as written).
        .replace('- { reducer: sessions, key: u1 }', '- reducer: sessions\n        key: u1\n        view: { closed: 1, open: { window_start: 50, window_end: 50, count: 1 } }')
        .replace(
          '    expect: record\n',
          '    expect:\n      - { reducer: n, key: u2, view: 1 }\n      - reducer: sessions\n        key: u2\n        view: { closed: 0, open: { window_start: 3, window_end: 3, count: 1 } }\n',
        ),
    );
    const force = await run('test', pipeline, '--update', '--force');
    expect(force.stdout).toMatch(/0 expectations recorded, 1 rewritten/);
    expect(force.code).toBe(0);
    expect(readFileSync(tests, 'utf8')).toContain('      - { reducer: n, key: u3, view: 1 }   # keep this comment\n');
    const again = await run('test', pipeline);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('3 passed, 0 failed');
  });

  it('--update --force rewrites block-style values in place and adds `expect` after a block input list', async () => {
    const source = `tests:
  - name: block
    input: [{ in: { user: u1, kind: k, ts: 1 } }, { in: { user: u1, ts: 2 } }]
    expect:
      - reducer: n
        key: u1
        view:
          - 3     # wrong
        match: subset
      - reducer: sizes
        key: u1
        absent: true
    # trailing comment
  - name: next
    input:
      - in: { user: u2 }
    # before the third test
  - name: third
    input: [{ in: { user: u3 } }]
    expect: [{ reducer: n, key: u3, view: 1 }]
`;
    const { pipeline, tests } = small(source);
    const r = await run('test', pipeline, '--update', '--force');
    expect(r.stdout).toMatch(/1 expectation recorded, 1 rewritten/);
    expect(r.code).toBe(0);
    expect(readFileSync(tests, 'utf8')).toBe(
      source
        .replace('        view:\n          - 3     # wrong\n', '        view: 2     # wrong\n')
        .replace('      - in: { user: u2 }\n', '      - in: { user: u2 }\n    expect:\n      - { reducer: n, key: u2, view: 1 }\n'),
    );
  });

  it('--update on a test with no expect records emitted events in block style when they are long', async () => {
    const { pipeline, tests } = small(`tests:
  - name: emits
    input:
      - in: [{ user: u1, kind: k, ts: 1, long_field_name_to_make_it_wide: 1234567890 }, { user: u1, kind: k, ts: 100 }]
`);
    const before = await run('test', pipeline);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain("no expectations: `loflow test --update` records what the pipeline produces");
    const r = await run('test', pipeline, '--update');
    expect(r.code).toBe(0);
    const doc = parse(readFileSync(tests, 'utf8'));
    expect(doc.tests[0].expect).toEqual([
      { reducer: 'n', key: 'u1', view: 2 },
      { reducer: 'sessions', key: 'u1', view: { closed: 1, open: { window_start: 100, window_end: 100, count: 1 } } },
      { reducer: 'sizes', key: 'u1', view: { count: 1, sum: 1, mean: 1, variance: 0, stddev: 0, min: 1, max: 1 } },
      { reducer: 'sessions', emitted: [{ key: 'u1', window_start: 1, window_end: 1, count: 1, duration_ms: 0, sum: 0, user: 'u1', ts: 100 }] },
    ]);
  });
});
