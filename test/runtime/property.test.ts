import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent } from '../../engine/types.js';

const pipelineFile = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');

/** Naive recomputation: for each reducer and key, fold that key's whole history from the initial state. */
function recompute(p: CompiledPipeline, events: LoEvent[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const streams = new Map<string, LoEvent[]>([['extension', events]]);
  let now = 0;
  for (const r of p.reducers) {
    const input = r.from.flatMap((s) => streams.get(s) ?? []);
    const byKey = new Map<string, LoEvent[]>();
    for (const e of input) {
      if (r.where && !r.where(e)) continue;
      const k = r.key.extract(e);
      if (k === undefined) continue;
      byKey.set(k, [...(byKey.get(k) ?? []), e]);
    }
    const emitted: LoEvent[] = [];
    const views: Record<string, unknown> = {};
    for (const [k, history] of byKey) {
      let s = r.op.init(r.params);
      for (const e of history) {
        const time = r.time(e) ?? 0;
        now = Math.max(now, time);
        s = r.op.reduce(s, e, { key: k, time, emit: (x) => { r.key.copy?.(e, x); if (x.ts === undefined) x.ts = time; emitted.push(x); }, late: () => {} }, r.params);
      }
      views[k] = s;
    }
    if (r.emit) streams.set(r.emit, [...(streams.get(r.emit) ?? []), ...emitted.sort((a, b) => a.ts - b.ts)]);
    out[r.name] = views;
  }
  for (const r of p.reducers) for (const k of Object.keys(out[r.name])) out[r.name][k] = r.op.view ? r.op.view(out[r.name][k], r.params, now) : out[r.name][k];
  return out;
}

const event = fc.record({
  student: fc.constantFrom('s-0000', 's-0001', 's-0002'),
  doc: fc.constantFrom('d1', 'd2'),
  kind: fc.constantFrom('keystroke', 'google_docs_save', 'visibility'),
  gap: fc.integer({ min: 0, max: 4000 }),
  ch: fc.constantFrom('a', 'b', ' ', 'Backspace'),
});

describe('incremental = recomputation (property)', () => {
  it('for random event streams and batch sizes, every reducer equals a fold over each key’s full history', async () => {
    const { pipeline } = await compilePipelineFile(pipelineFile);
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 150 }), fc.integer({ min: 1, max: 40 }), async (raw, batchSize) => {
        let t = Date.UTC(2026, 0, 1);
        const events: LoEvent[] = raw.map((r) => {
          t += r.gap;
          const base = { event: r.kind, ts: t, auth: { user_id: r.student }, doc_id: r.doc };
          if (r.kind === 'keystroke') return { ...base, keystroke: { key: r.ch } };
          if (r.kind === 'google_docs_save') return { ...base, bundles: [{ commands: [{ ty: 'is', ibi: 1, s: r.ch }] }] };
          return base;
        });
        const engine = new Engine(pipeline!, { batchSize });
        for (let i = 0; i < events.length; i += 7) await engine.ingest('extension', events.slice(i, i + 7));
        await engine.flush();
        const expected = recompute(pipeline!, structuredClone(events));
        expect(engine.results().reducers).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });
});
