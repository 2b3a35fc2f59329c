// Issue #15.3: a custom operator copied to a folder of one's own (outside the repository, no package.json)
// loads and runs; `loflow/operator` gives it types (defineOperator) that tsc enforces; a module that is not
// an operator is refused with what it does export.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { root, run } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-own-ops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pipeline = (op: string) => `pipeline: mine
sources:
  extension: { kind: websocket, path: /wsapi/in/, schema: lo-event }
keys:
  student: $.auth.user_id
reducers:
  longest: { from: [extension], key: student, op: ${op} }
tests:
  - name: the longest word typed
    input:
      - extension:
${[...'hi there yo'].map((k, i) => `          - { event: keystroke, auth: { user_id: s1 }, ts: ${i + 1}, keystroke: { key: '${k}' } }`).join('\n')}
    expect:
      - { reducer: longest, key: s1, state: { longest: there, current: yo } }
`;

/** tsc on one file, as an editor would check it; exit code and output. */
async function typecheck(file: string): Promise<{ code: number; out: string }> {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), file];
  try {
    const { stdout } = await promisify(execFile)('node', args, { cwd: dir });
    return { code: 0, out: stdout };
  } catch (err: any) {
    return { code: err.code, out: `${err.stdout}${err.stderr}` };
  }
}

describe('custom operators outside the repository', () => {
  it("the README's longest-word.ts, copied to a bare folder, validates and runs", async () => {
    const own = join(dir, 'bare');
    mkdirSync(own);
    copyFileSync(join(root, 'pipelines/operators/longest-word.ts'), join(own, 'longest-word.ts'));
    writeFileSync(join(own, 'p.yaml'), pipeline('./longest-word.ts'));
    expect((await run('validate', join(own, 'p.yaml'))).stdout).toMatch(/^ok .*p\.yaml: pipeline 'mine', 1 sources, 1 reducers/);
    const r = await run('test', join(own, 'p.yaml'));
    expect(r.stdout).toMatch(/^1 passed, 0 failed$/m);
    expect(r.code).toBe(0);
  });

  it("defineOperator from 'loflow/operator' (loflow installed in the operator's project): runs, and tsc checks it", async () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(root, join(project, 'node_modules/loflow')); // what `npm i -D loflow` gives
    const op = (reduceBody: string) => `import { defineOperator } from 'loflow/operator';
interface State { longest: string; current: string }
export default defineOperator<State, { field?: string }>({
  name: 'longest_word',
  summary: 'The longest word typed so far.',
  params: { type: 'object', additionalProperties: false, properties: { field: { type: 'string' } } },
  init: () => ({ longest: '', current: '' }),
  reduce(s, event) {
    ${reduceBody}
  },
  example: 'longest: { op: ./longest.ts }',
});
`;
    writeFileSync(join(project, 'longest.ts'), op(`const key = event.keystroke?.key;
    if (typeof key !== 'string' || key.length !== 1) return s;
    if (/\\s/.test(key)) s.current = '';
    else s.current += key;
    if (s.current.length > s.longest.length) s.longest = s.current;
    return s;`));
    writeFileSync(join(project, 'p.yaml'), pipeline('./longest.ts'));
    const r = await run('test', join(project, 'p.yaml'));
    expect(r.stdout).toMatch(/^1 passed, 0 failed$/m);
    expect((await typecheck(join(project, 'longest.ts'))).code).toBe(0);
    // The types are real: a reduce that returns the wrong state is a type error.
    writeFileSync(join(project, 'wrong.ts'), op('return s.longest.length;'));
    const wrong = await typecheck(join(project, 'wrong.ts'));
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/wrong\.ts\(\d+,\d+\): error TS2322:[^]*Type 'number' is not assignable to type 'State'/);
  }, 120_000);

  it('a module that is not an operator: the error says what it exports', async () => {
    const own = join(dir, 'not-op');
    mkdirSync(own);
    writeFileSync(join(own, 'half.ts'), `export default { name: 'half', params: {}, init: () => 0 };\nexport const helper = 3;\n`);
    writeFileSync(join(own, 'p.yaml'), pipeline('./half.ts').split('tests:')[0]);
    const r = await run('validate', join(own, 'p.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/'\.\/half\.ts' does not export an operator \(default export or `operator`\): missing reduce; found a default export: an object with \{name, params, init\}; 'helper': a number/);
  });
});
