// Reducers that read the same streams with the same `where` and key share one routing of each batch
// (engine/runtime.ts). Sharing must change nothing: the same states, derived events in the same order and the
// same dead letters as when every reducer routes on its own (here forced by giving each its own functions).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledKey, CompiledPipeline, LoEvent } from '../../engine/types.js';
import { everyN, pathKey, pipelineOf, sequence } from './pipeline-fixture.js';

/** The same pipeline with a fresh where and key function per reducer: no two reducers share a route. */
function unshared(p: CompiledPipeline): CompiledPipeline {
  return {
    ...p,
    reducers: p.reducers.map((r) => {
      const where = r.where;
      const key: CompiledKey = { ...r.key, extract: (e) => r.key.extract(e) };
      return { ...r, key, where: where && ((e: LoEvent) => where(e)) };
    }),
  };
}

async function run(p: CompiledPipeline, stream: string, events: LoEvent[], batchSize: number) {
  const engine = new Engine(p, { batchSize });
  const emitted: Array<[string, LoEvent]> = [];
  engine.on('emit', (s: string, e: LoEvent) => emitted.push([s, structuredClone(e)]));
  for (let i = 0; i < events.length; i += 50) await engine.ingest(stream, events.slice(i, i + 50), 1000);
  await engine.flush();
  const out = { results: engine.results(), emitted, letters: await engine.deadLetters.list(), stats: engine.stats().failed };
  await engine.stop();
  return out;
}

describe('shared routing', () => {
  it('gives the states, derived events and dead letters (key failures included) of separate routing', async () => {
    const user = pathKey('user', '$.user');
    // A key that throws for some events: each reducer dead-letters them under its own name, in reducer order.
    const key: CompiledKey = {
      ...user,
      extract: (e) => {
        if (e.bad) throw new Error(`bad event ${e.seq}`);
        return user.extract(e);
      },
    };
    const kept = (e: LoEvent) => e.kind !== 'skip';
    const p = pipelineOf([
      { name: 'a', op: sequence, from: ['in'], key, where: kept },
      { name: 'b', op: everyN, from: ['in'], key, where: kept, emit: 'groups' },
      { name: 'c', op: sequence, from: ['in'], key },
      { name: 'd', op: sequence, from: ['groups'], key: pathKey('user', '$.user'), level: 1 },
    ]);
    const events: LoEvent[] = Array.from({ length: 300 }, (_, seq) => ({
      seq,
      ts: 1000 + seq * 10,
      user: `u${seq % 7}`,
      value: seq,
      kind: seq % 5 === 0 ? 'skip' : 'keep',
      ...(seq % 23 === 0 ? { bad: true } : {}),
    }));
    for (const batchSize of [1, 7, 4096]) {
      const shared = await run(p, 'in', events, batchSize);
      expect(shared.letters.length).toBeGreaterThan(0);
      expect(shared.emitted.length).toBeGreaterThan(0);
      expect(shared).toEqual(await run(unshared(p), 'in', events, batchSize));
    }
  });

  it('the demo pipeline: equal filters compile to one function, and sharing it changes no result', async () => {
    const { pipeline } = await compilePipelineFile(join(import.meta.dirname, '../../pipelines/writing-observer.yaml'));
    const byName = new Map(pipeline!.reducers.map((r) => [r.name, r]));
    expect(byName.get('typing')!.where).toBe(byName.get('bursts')!.where);
    const events = [...new Classroom({ students: 12, seed: 3 }).events(3000)].map((g) => g.event);
    for (const batchSize of [5, 4096]) {
      expect(await run(pipeline!, 'extension', events, batchSize)).toEqual(await run(unshared(pipeline!), 'extension', events, batchSize));
    }
  });
});
