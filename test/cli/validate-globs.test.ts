// Issue #15.2: `loflow validate pipelines/*.yaml` (and `test`) meet x.test.yaml files: checked as tests of
// x.yaml, not compiled as pipelines.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { root, run } from './run-cli.js';

/** How many tests the demo's test file has (it grows with the demo). */
const demoTests = (parse(readFileSync(join(root, 'pipelines/writing-observer.test.yaml'), 'utf8')) as { tests: unknown[] }).tests.length;

const dir = mkdtempSync(join(tmpdir(), 'loflow-globs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('validate and test with a glob that names test files', () => {
  it('validate checks x.test.yaml as the tests of x.yaml', async () => {
    const r = await run('validate', 'pipelines/writing-observer.test.yaml', 'pipelines/writing-observer.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok pipelines/writing-observer\\.test\\.yaml: ${demoTests} tests of pipelines/writing-observer\\.yaml$`, 'm'));
    expect(r.stdout).toMatch(/^ok pipelines\/writing-observer\.yaml: pipeline/m);
  });

  it('validate reports a broken test file at its line, and a test file without a pipeline', async () => {
    cpSync(join(root, 'pipelines/writing-observer.yaml'), join(dir, 'p.yaml'));
    cpSync(join(root, 'pipelines/rosters'), join(dir, 'rosters'), { recursive: true });
    writeFileSync(join(dir, 'p.test.yaml'), 'tests:\n  - name: t\n    input: []\n    expect:\n      - { reducer: no_such, key: s-0000, view: 1 }\n');
    writeFileSync(join(dir, 'lonely.test.yaml'), 'tests: []\n');
    const r = await run('validate', join(dir, 'p.test.yaml'), join(dir, 'lonely.test.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/p\.test\.yaml:5:\d+: .*no_such/);
    expect(r.stderr).toMatch(/lonely\.test\.yaml:1:1: a test file, but there is no pipeline .*lonely\.yaml beside it/);
  });

  it('test runs x.yaml once when given both x.yaml and x.test.yaml', async () => {
    const r = await run('test', 'pipelines/writing-observer.test.yaml', 'pipelines/writing-observer.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout.match(new RegExp(`^pipelines/writing-observer\\.yaml: ${demoTests} tests`, 'gm'))).toHaveLength(1);
    expect(r.stdout).toMatch(new RegExp(`^${demoTests} passed, 0 failed$`, 'm'));
  });
});
