// Issue #15.2: every built-in operator declares the shape of its view (viewSchema), which the compiler
// checks dashboard columns against; here each view, after real events, is checked against its declaration
// (a wrong declaration would refuse good columns or pass empty ones).
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Classroom } from '../../engine/classroom.js';
import type { LoEvent, Operator, ReduceContext } from '../../engine/types.js';
import { builtinOperators } from '../../operators/registry.js';

const ajv = new Ajv2020({ strict: false, allowUnionTypes: true });

/** Extension events of a synthetic classroom, plus events with the numeric fields examples read ($.count). */
function events(): LoEvent[] {
  const classroom = [...new Classroom({ students: 3, seed: 7, stream: 'extension' }).events(3000)].map((e) => e.event as LoEvent);
  const numeric = Array.from({ length: 50 }, (_, i) => ({ event: 'burst', count: i % 7, score: i / 3, doc_id: `d${i % 4}`, ts: 1_000 + i * 500 }));
  return [...classroom, ...numeric];
}

describe('built-in operators: view schemas', () => {
  it.each([...builtinOperators.values()].map((op) => [op.name, op] as const))('%s: the view after events matches viewSchema', (_name, op: Operator) => {
    expect(op.viewSchema, `${op.name} declares no viewSchema`).toBeDefined();
    const entry = Object.values(parse(op.example) as Record<string, { params?: Record<string, unknown> }>)[0];
    const raw = entry.params ?? {};
    const params = op.prepare ? op.prepare(raw) : raw;
    const validate = ajv.compile(op.viewSchema!);
    let state = op.init(params);
    let time = 0;
    const views = [view(op, state, params, time)];
    for (const e of events()) {
      time = typeof e.ts === 'number' ? e.ts : time + 100;
      const ctx: ReduceContext = { key: 'k', time, emit() {}, late() {} };
      try {
        state = op.reduce(state, e, ctx, params);
      } catch {
        // The runtime dead-letters an event reduce refuses (a malformed save); the state stays as it was.
      }
    }
    views.push(view(op, state, params, time));
    for (const v of views) expect(validate(v), `${op.name}: ${JSON.stringify(validate.errors)} for ${JSON.stringify(v).slice(0, 300)}`).toBe(true);
  });
});

const view = (op: Operator, state: unknown, params: unknown, now: number) => JSON.parse(JSON.stringify(op.view ? op.view(state, params, now) : state));
