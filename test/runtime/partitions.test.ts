// Scale-out step 2 (docs/scale-out.md §2, §14): events routed by fnv1a32(student) mod P to P partition tasks in
// one process. The same events give the same states, views and class tables for every P (T11), in memory and
// in Redis (single and a 3-node cluster), where each partition's records carry its own hash tag.
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classroom } from '../../engine/classroom.js';
import { FileInputLog } from '../../engine/log/file-log.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { fnv1a32, partitionOf } from '../../engine/partition.js';
import { Engine } from '../../engine/runtime.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { CompiledPipeline, LoEvent, Operator, StateStore } from '../../engine/types.js';
import { demoWithPartitions } from './partitioned-demo.js';

const uniq = () => `t${Math.random().toString(36).slice(2, 8)}`;
const classroom = (seed: number, n: number, start?: number) => [...new Classroom({ students: 20, seed, ...(start ? { start } : {}) }).events(n)].map((e) => e.event as LoEvent);

async function run(pipeline: CompiledPipeline, events: LoEvent[], opts: { store?: StateStore; request?: number; batchSize?: number } = {}) {
  const engine = new Engine(pipeline, { ...(opts.store ? { store: opts.store } : {}), batchSize: opts.batchSize ?? 4096 });
  const partitions = new Set<number | undefined>();
  engine.on('batch', (b: { partition?: number }) => partitions.add(b.partition));
  const request = opts.request ?? 500;
  for (let i = 0; i < events.length; i += request) await engine.ingest('extension', structuredClone(events.slice(i, i + request)));
  await engine.flush();
  return { engine, partitions };
}

/** Every group's table after loading the group's states from the store (what a dashboard shows after a restart). */
async function tables(engine: Engine) {
  const out: Record<string, unknown> = {};
  for (const g of engine.groups('class_overview')) {
    await engine.ensureLoaded('class_overview', g);
    out[g] = engine.aggregate('class_overview', g);
  }
  return out;
}

describe('the partition function', () => {
  it('is FNV-1a 32 of the UTF-8 bytes, mod P: a pinned table (it decides where every state lives)', () => {
    // The standard FNV-1a test vectors, then ids as loflow sees them (non-ASCII and a lone surrogate, encoded as U+FFFD).
    expect([fnv1a32(''), fnv1a32('a'), fnv1a32('foobar')]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
    const table: Array<[string, number, number, number]> = [
      ['s-0000', 0x5ebf068d, 1, 13],
      ['s-0001', 0x5dbf04fa, 2, 58],
      ['s-0042', 0xc4b519c3, 3, 3],
      ['s-0199', 0x5c00f6f8, 0, 56],
      ['élève-7', 0x8d364289, 1, 9],
      ['学生-12', 0xa1077b4b, 3, 11],
      ['𝒜-1', 0x49de0dc2, 2, 2],
      ['x\uD800y', 0x66b4d003, 3, 3],
    ];
    for (const [id, hash, p4, p64] of table) expect([id, fnv1a32(id), partitionOf(id, 4), partitionOf(id, 64)]).toEqual([id, hash, p4, p64]);
    expect(partitionOf('anything', 1)).toBe(0);
  });
});

describe('P partition tasks in one process (T11)', () => {
  it('P = 1, 4, 64: equal states, views, class tables and clock for a classroom; batches run in many tasks', async () => {
    const events = classroom(5, 3000);
    const runs = [];
    for (const count of [1, 4, 64]) {
      const { engine, partitions } = await run(await demoWithPartitions(count), events, { batchSize: 256, request: 137 });
      runs.push({ results: engine.results(), tables: await tables(engine), clock: engine.clock(), stats: engine.stats(), partitions });
      await engine.stop();
    }
    const [one, four, many] = runs;
    expect(Object.keys(one.results.reducers.events)).toHaveLength(20);
    for (const other of [four, many]) {
      expect(other.results).toEqual(one.results);
      expect(other.tables).toEqual(one.tables);
      expect(other.clock).toBe(one.clock);
      expect(other.stats.processed).toBe(3000);
      expect(other.stats.committedOffset).toBe(3000); // the partitions' offsets add up to every event
    }
    expect([...one.partitions]).toEqual([undefined]); // P = 1: batch events as before, no partition field
    expect(four.partitions).toEqual(new Set([0, 1, 2, 3]));
    const students = Object.keys(one.results.reducers.events);
    expect(many.partitions).toEqual(new Set(students.map((s) => partitionOf(s, 64))));
  });

  it('a derived event an operator emits for another learner is dead-lettered, not reduced in the wrong partition', async () => {
    const pipeline = await demoWithPartitions(4);
    const bursts = pipeline.reducers.find((r) => r.name === 'bursts')!;
    // An operator that emits for a learner other than its key's (what the compiler cannot see): s-0042 is in partition 3.
    const op: Operator = { ...bursts.op, reduce: (s, e, ctx, p) => (ctx.emit({ auth: { user_id: 's-0042' }, count: 1 }), bursts.op.reduce(s, e, ctx, p)) };
    const reducers = pipeline.reducers.map((r) => (r === bursts ? { ...r, op } : r));
    const deadLetters = new MemoryDeadLetterStore();
    const engine = new Engine({ ...pipeline, reducers }, { deadLetters });
    const events = classroom(7, 400);
    for (let i = 0; i < events.length; i += 100) await engine.ingest('extension', events.slice(i, i + 100));
    await engine.flush();
    const letters = (await deadLetters.list()).filter((l) => l.stage === 'reducer:bursts');
    const keydowns = events.filter((e) => (e as any).event === 'keystroke' && (e as any).keystroke?.type === 'keydown');
    const inOthers = keydowns.filter((e) => partitionOf((e as any).auth.user_id, 4) !== 3).length;
    expect(inOthers).toBeGreaterThan(0);
    expect(letters).toHaveLength(inOthers);
    expect(letters[0].reason).toMatch(/^bursts emitted an event for 's-0042', whose partition is 3, not [012]: /);
    // Only partition 3's own emissions were reduced into s-0042's state.
    const own = keydowns.filter((e) => partitionOf((e as any).auth.user_id, 4) === 3).length;
    expect((engine.view('burst_stats', 's-0042') as { count: number }).count).toBe(own);
    await engine.stop();
  });

  it('refuses what step 2 does not partition (a durable log, a swap to another partition count)', async () => {
    const four = await demoWithPartitions(4);
    const log = new FileInputLog(mkdtempSync(join(tmpdir(), 'loflow-parts-')));
    expect(() => new Engine(four, { log })).toThrow(/^partitions.count 4: a file input log is not partitioned yet/);
    await log.close();
    const engine = new Engine(await demoWithPartitions(1));
    expect(() => engine.swapPipeline(four)).toThrow(/^partitions changed \(1 by student -> 4 by student\)/);
    await engine.stop();
  });
});

for (const [label, urlOf] of [
  ['redis', () => inject('redisUrl')],
  ['redis cluster (3 nodes)', () => inject('redisClusterUrl')],
] as const) {
  describe(`P partition tasks with states in ${label} (T11)`, () => {
    it('P = 4 equals P = 1 in memory; each partition commits under its own tag; a restarted engine resumes from them', async () => {
      const events = classroom(11, 2000);
      const memory = await run(await demoWithPartitions(1), events);
      const name = uniq();
      const pipeline = { ...(await demoWithPartitions(4)), name };
      const store = await RedisStateStore.connect(urlOf());
      const live = await run(pipeline, events, { store, batchSize: 300 });
      expect(live.engine.results()).toEqual(memory.engine.results());
      // Each partition's offset under `lf:{<name>:p<N>}`; nothing under the unpartitioned name.
      const offsets = await Promise.all([0, 1, 2, 3].map((n) => store.offset(`${name}:p${n}`)));
      const perPartition = [0, 1, 2, 3].map((n) => events.filter((e) => partitionOf((e as any).auth.user_id, 4) === n).length);
      expect(offsets).toEqual(perPartition);
      expect(await store.offset(name)).toBe(0);
      let states = 0;
      for await (const [ref] of store.scan(`${name}:p2`, 'events')) {
        expect(partitionOf(ref.key, 4)).toBe(2);
        states++;
      }
      expect(states).toBe(Object.keys(memory.engine.results().reducers.events).filter((s) => partitionOf(s, 4) === 2).length);
      await live.engine.stop();

      // A new engine with a cold cache: the class tables come back from each partition's records, and more
      // events continue every partition from its own offset.
      const store2 = await RedisStateStore.connect(urlOf());
      const resumed = new Engine(pipeline, { store: store2 });
      await resumed.start();
      expect(resumed.stats().committedOffset).toBe(2000);
      expect(await tables(resumed)).toEqual(await tables(memory.engine));
      const more = classroom(12, 600, Date.UTC(2026, 1, 1));
      for (let i = 0; i < more.length; i += 200) await resumed.ingest('extension', structuredClone(more.slice(i, i + 200)));
      await resumed.flush();
      const both = await run(await demoWithPartitions(1), [...events, ...more]);
      expect(await tables(resumed)).toEqual(await tables(both.engine));
      for (const s of ['s-0003', 's-0007', 's-0015']) expect(resumed.view('burst_stats', s)).toEqual(both.engine.view('burst_stats', s));
      await resumed.stop();
      await Promise.all([memory.engine.stop(), both.engine.stop()]);
    }, 120_000);
  });
}
