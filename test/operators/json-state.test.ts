// States are stored in Redis and checkpointed as JSON: every built-in operator must give the same views,
// emitted and late events whether or not its state goes through JSON between two events.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LoEvent, Operator, ReduceContext } from '../../engine/types.js';
import { builtinOperators } from '../../operators/registry.js';

/** Params that exercise each operator on the synthetic events below. */
const paramsOf: Record<string, unknown> = {
  count: {},
  sum: { field: '$.x' },
  min: { field: '$.x' },
  max: { field: '$.x' },
  stats: { field: '$.x' },
  first: { field: '$.x' },
  last: { field: '$.x' },
  last_n: { n: 3, field: '$.x' },
  distinct: { field: '$.keystroke.key', exact_up_to: 3 },
  top_k: { field: '$.keystroke.key', k: 2, capacity: 3 },
  histogram: { field: '$.x', bounds: [0, 50] },
  rate: { horizon: '1m' },
  time_on_task: { idle_after: '5s' },
  streak: { gap: '3s' },
  tumbling_window: { size: '5s', allowed_lateness: '2s', field: '$.x' },
  sliding_window: { size: '6s', every: '2s', field: '$.x' },
  session_window: { gap: '2s', allowed_lateness: '3s', field: '$.x' },
  reconstruct_text: { include_text: true },
  words_per_minute: {},
  pauses: { threshold: '2s' },
  revisions: { pause: '2s' },
};

/** Keystrokes and Google Docs saves with mostly increasing, sometimes out-of-order event times. */
const events = fc
  .array(
    fc.record({
      back: fc.boolean(),
      gap: fc.integer({ min: 0, max: 6000 }),
      x: fc.integer({ min: -20, max: 80 }),
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', ' ', 'Backspace'),
      save: fc.boolean(),
    }),
    { maxLength: 80 },
  )
  .map((rows) => {
    let t = 10_000;
    let length = 0;
    return rows.map((r): LoEvent => {
      t = r.back ? Math.max(0, t - r.gap) : t + r.gap;
      if (!r.save) return { ts: t, x: r.x, event: 'keystroke', keystroke: { key: r.key } };
      // An insert at the start of a tab (so reconstruct_text's state holds tabs), or an insert at the end or a
      // delete of the last character of the main text: always valid against the text so far.
      if (r.key === 'e') return { ts: t, x: r.x, event: 'google_docs_save', bundles: [{ commands: [{ ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'e' }, nmr: ['t.1'] }] }] };
      const command = r.key === 'Backspace' && length > 0 ? { ty: 'ds', si: length, ei: length } : { ty: 'is', ibi: length + 1, s: r.key };
      length += command.ty === 'ds' ? -1 : 1;
      return { ts: t, x: r.x, event: 'google_docs_save', bundles: [{ commands: [command] }] };
    });
  });

function fold(op: Operator, params: unknown, evs: LoEvent[], throughJson: boolean) {
  const emitted: LoEvent[] = [];
  const late: LoEvent[] = [];
  const views: unknown[] = [];
  let state = op.init(params);
  let now = 0;
  for (const e of evs) {
    if (throughJson) state = JSON.parse(JSON.stringify(state));
    const ctx: ReduceContext = { key: 'k', time: e.ts, emit: (x) => emitted.push(x), late: (x) => late.push(x) };
    state = op.reduce(state, e, ctx, params);
    now = Math.max(now, e.ts);
    // A copy: some states are their own view and are mutated in place by later events.
    views.push(structuredClone(op.view ? op.view(state, params, now) : state));
  }
  return { state, emitted, late, views };
}

describe('operator states are plain JSON', () => {
  it('every built-in operator has params here', () => {
    expect(Object.keys(paramsOf).sort()).toEqual([...builtinOperators.keys()].sort());
  });
  for (const op of builtinOperators.values()) {
    it(`${op.name}: the same results with its state stored as JSON after every event (property)`, () => {
      const params = op.prepare ? op.prepare(paramsOf[op.name]) : paramsOf[op.name];
      fc.assert(
        fc.property(events, (evs) => {
          const evsFor = op.name === 'reconstruct_text' ? evs.filter((e) => e.event === 'google_docs_save') : evs;
          const direct = fold(op, params, evsFor, false);
          const stored = fold(op, params, evsFor, true);
          // The state itself survives JSON unchanged (no Infinity, NaN, undefined, Map or class instance).
          expect(JSON.parse(JSON.stringify(direct.state))).toStrictEqual(direct.state);
          expect(stored.views).toEqual(direct.views);
          expect(stored.emitted).toEqual(direct.emitted);
          expect(stored.late).toEqual(direct.late);
        }),
        { numRuns: 150 },
      );
    });
  }
});
