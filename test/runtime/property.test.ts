import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent } from '../../engine/types.js';
import { demoWithPartitions } from './partitioned-demo.js';

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

// T11 (docs/scale-out.md §11): the same events through 1, 4 and 64 partition tasks in one process, in any
// batch and request sizes, give equal states, views, class tables and clock. The demo's reducers are all local.
const learnerEvent = fc.record({
  student: fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `s-${String(i).padStart(4, '0')}`)),
  doc: fc.constantFrom('d1', 'd2'),
  kind: fc.constantFrom('keystroke', 'google_docs_save', 'visibility'),
  gap: fc.integer({ min: 0, max: 4000 }),
  ch: fc.constantFrom('a', 'b', ' ', 'Backspace'),
});

describe('partitions: P = 1, 4, 64 give equal results (property, T11)', () => {
  it('for random events, batch sizes and request sizes, every state, view, aggregation and the clock are equal', async () => {
    const pipelines = await Promise.all([1, 4, 64].map(demoWithPartitions));
    expect(pipelines.map((p) => p.partitions?.count)).toEqual([1, 4, 64]);
    await fc.assert(
      fc.asyncProperty(fc.array(learnerEvent, { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 25 }), async (raw, batchSize, request) => {
        let t = Date.UTC(2026, 0, 1);
        const events: LoEvent[] = raw.map((r) => {
          t += r.gap;
          const base = { event: r.kind, ts: t, auth: { user_id: r.student }, doc_id: r.doc };
          if (r.kind === 'keystroke') return { ...base, keystroke: { key: r.ch, type: 'keydown' } };
          if (r.kind === 'google_docs_save') return { ...base, bundles: [{ commands: [{ ty: 'is', ibi: 1, s: r.ch }] }] };
          return base;
        });
        const outcomes = [];
        for (const pipeline of pipelines) {
          const engine = new Engine(pipeline, { batchSize });
          const used = new Set<number | undefined>();
          engine.on('batch', (b: { partition?: number }) => used.add(b.partition));
          for (let i = 0; i < events.length; i += request) await engine.ingest('extension', structuredClone(events.slice(i, i + request)));
          await engine.flush();
          const states: Record<string, Record<string, unknown>> = {};
          for (const r of pipeline.reducers) states[r.name] = Object.fromEntries(engine.keys(r.name).map((k) => [k, engine.stateOf(r.name, k)]));
          outcomes.push({ results: engine.results(), states, clock: engine.clock(), processed: engine.stats().processed, used: used.size });
          await engine.stop();
        }
        const [one, ...many] = outcomes;
        for (const other of many) {
          expect(other.results).toEqual(one.results);
          expect(other.states).toEqual(one.states);
          expect(other.clock).toBe(one.clock);
          expect(other.processed).toBe(events.length);
        }
        // The events really went through several tasks when their students are in several partitions.
        const students = new Set(raw.map((r) => r.student));
        if (students.size > 4) expect(many[1].used).toBeGreaterThan(1);
      }),
      { numRuns: 40 },
    );
  }, 240_000);
});
