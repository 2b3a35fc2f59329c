import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reference } from '../../operators/reference.js';
import { builtinOperators } from '../../operators/registry.js';
import { compilePipeline, formatError } from '../../engine/compiler.js';

/** A pipeline around one reducer entry; reducers that read `burst` get a session window that emits it. */
const pipelineWith = (entry: string) => `pipeline: examples
sources:
  extension: { kind: websocket, path: /wsapi/in/, schema: lo-event }
keys:
  student: $.auth.user_id
  document: $.doc_id
  student_doc: [student, document]
reducers:
  ${entry}
${entry.includes('from: [burst]') ? '  producer: { from: [extension], key: student, op: session_window, params: { gap: 2s }, emit: burst }\n' : ''}`;

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
  it("every operator's example compiles in a pipeline", async () => {
    for (const op of builtinOperators.values()) {
      const { errors } = await compilePipeline(pipelineWith(op.example), join(import.meta.dirname, 'example.yaml'));
      expect(errors.map(formatError), op.name).toEqual([]);
    }
  });
});
