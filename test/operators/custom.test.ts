// Custom operators: modules next to the pipeline, loaded by path, checked for the Operator shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReduceContext } from '../../engine/types.js';
import { isCustomOperatorSpec, loadCustomOperator } from '../../operators/registry.js';

const pipelines = join(import.meta.dirname, '../../pipelines');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loflow-custom-op-'));
  // A plain .mjs module with a named `operator` export.
  writeFileSync(
    join(dir, 'max-len.mjs'),
    `export const operator = {
      name: 'max_len', summary: 'longest string seen', params: { type: 'object', properties: {} },
      init: () => 0,
      reduce: (s, e) => Math.max(s, String(e.s ?? '').length),
      example: 'm: { op: ./max-len.mjs }',
    };\n`,
  );
  writeFileSync(join(dir, 'nothing.mjs'), `export const something = 1;\n`);
  writeFileSync(join(dir, 'half.mjs'), `export default { name: 'half', params: {}, init: () => 0 };\n`);
  writeFileSync(join(dir, 'not-fn.mjs'), `export default { name: 'x', params: {}, init: 0, reduce: 1 };\n`);
  writeFileSync(join(dir, 'broken.ts'), `export default { name: 'x', params: {}, init: () => 0, reduce( };\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx: ReduceContext = { key: 'k', time: 0, emit() {}, late() {} };

describe('custom operators', () => {
  it('tells module paths from built-in names', () => {
    expect(isCustomOperatorSpec('./operators/longest-word.ts')).toBe(true);
    expect(isCustomOperatorSpec('../shared/op.js')).toBe(true);
    expect(isCustomOperatorSpec('/abs/op.js')).toBe(true);
    expect(isCustomOperatorSpec('count')).toBe(false);
  });

  it('loads the TypeScript example (default export) relative to the pipeline folder, and it works', async () => {
    const op = await loadCustomOperator('./operators/longest-word.ts', pipelines);
    expect(op.name).toBe('longest_word');
    let s = op.init({});
    for (const key of [...'the quick brown fox']) s = op.reduce(s, { keystroke: { key } }, ctx, {});
    expect(s).toEqual({ longest: 'quick', current: 'fox' });
  });

  it('loads a JavaScript module with a named `operator` export, filling in the optional fields', async () => {
    const op = await loadCustomOperator('./max-len.mjs', dir);
    expect(op.name).toBe('max_len');
    let s = op.init({});
    for (const e of [{ s: 'ab' }, { s: 'abcd' }, {}, { s: 'x' }]) s = op.reduce(s, e, ctx, {});
    expect(s).toBe(4);
  });

  it('gives a clear error for a missing file, a module without an operator, a half operator, a syntax error', async () => {
    await expect(loadCustomOperator('./no-such.ts', dir)).rejects.toThrow(/cannot load operator module '\.\/no-such\.ts'/);
    await expect(loadCustomOperator('./nothing.mjs', dir)).rejects.toThrow(
      "'./nothing.mjs' does not export an operator (default export or `operator`): missing name, params, init, reduce; found 'something': a number",
    );
    await expect(loadCustomOperator('./half.mjs', dir)).rejects.toThrow(/: missing reduce; found a default export: an object with \{name, params, init\}$/);
    await expect(loadCustomOperator('./not-fn.mjs', dir)).rejects.toThrow("'./not-fn.mjs': init and reduce must be functions");
    await expect(loadCustomOperator('./broken.ts', dir)).rejects.toThrow(/cannot load operator module '\.\/broken\.ts'/);
  });
});
