import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reference } from '../../operators/reference.js';
import { builtinOperators } from '../../operators/registry.js';

describe('operator reference', () => {
  it('the README holds the reference generated from the operators themselves', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const block = readme.split('<!-- operator-reference:start -->\n')[1].split('\n<!-- operator-reference:end -->')[0];
    expect(block).toBe(reference());
  });
  it('every operator has a summary, a params schema and an example', () => {
    for (const op of builtinOperators.values()) {
      expect(op.summary.length, op.name).toBeGreaterThan(10);
      expect(op.params.type, op.name).toBe('object');
      expect(op.example, op.name).toMatch(/op: /);
    }
  });
});
