// Re-keying back to the routing key (docs/scale-out.md §6): a class-keyed reducer (an exchange reducer, in its
// class's partition) emits events about students, and student-keyed reducers read them (`rekey` placement):
// each emitted event goes back over an exchange edge to its student's partition. With P > 1 the results equal
// P = 1 when the order is the same, nothing is lost or counted twice when batches interleave, and every
// re-keyed state lives in its student's partition, in one process and on workers.
import { describe, expect, inject, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { partitionOf, partitionStoreName } from '../../engine/partition.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { rng } from '../../engine/classroom.js';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { drained } from '../cluster/exchange-fixture.js';
import { signal, startWorker, until, type WorkerChild } from '../cluster/worker-fixture.js';
import type { CompiledPipeline, LoEvent, StateStore } from '../../engine/types.js';

const root = join(import.meta.dirname, '../..');

const text = (name: string, count: number) => `pipeline: ${name}
sources:
  extension: { kind: websocket, path: /wsapi/in/, schema: lo-event }
rosters:
  demo: { file: rosters/demo.csv }
keys:
  student: $.auth.user_id
  class: { lookup: demo, by: student, column: class }
reducers:
  events: { from: [extension], key: student, op: count }
  class_sessions:               # exchange: in the class's partition; a closed session names the student whose event closed it
    from: [extension]
    key: class
    op: session_window
    params: { gap: 2s }
    time: $.ts
    emit: class_session
  class_session_count: { from: [class_session], key: class, op: count }
  closed_by: { from: [class_session], key: student, op: count }                            # rekey
  closed_len: { from: [class_session], key: student, op: stats, params: { field: $.count } } # rekey
aggregations:
  overview:
    group_by: class
    columns: { events: events, closed: closed_by, mean_len: closed_len.mean }
partitions: { count: ${count} }
`;

async function compiledFile(name: string, count: number): Promise<{ file: string; pipeline: CompiledPipeline }> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-rekey-'));
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, text(name, count));
  const { pipeline, errors } = await compilePipelineFile(file);
  if (!pipeline) throw new Error(JSON.stringify(errors));
  return { file, pipeline };
}

const compileAt = async (name: string, count: number) => (await compiledFile(name, count)).pipeline;

/** Events of 16 students in 4 classes, with gaps that close class sessions now and then. */
function events(n: number, seed: number): LoEvent[] {
  const r = rng(seed);
  let t = Date.UTC(2026, 0, 1);
  return Array.from({ length: n }, () => {
    t += r() < 0.15 ? 2500 + Math.floor(r() * 3000) : Math.floor(r() * 400);
    return { event: 'keystroke', ts: t, auth: { user_id: `s-${String(Math.floor(r() * 16)).padStart(4, '0')}` } };
  });
}

/** Per partition: its states, `reducer/key` → state. */
async function statesByPartition(store: StateStore, name: string, count: number): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (let n = 0; n < count; n++) {
    const states: Record<string, unknown> = {};
    for await (const [ref, state] of store.scan(partitionStoreName(name, n, count))) states[`${ref.reducer}/${ref.key}`] = state;
    out.push(JSON.parse(JSON.stringify(states)) as Record<string, unknown>);
  }
  return out;
}

const merged = (parts: Array<Record<string, unknown>>) => Object.assign({}, ...parts) as Record<string, unknown>;
const total = (states: Record<string, unknown>, reducer: string) =>
  Object.entries(states)
    .filter(([k]) => k.startsWith(`${reducer}/`))
    .reduce((a, [, v]) => a + (v as number), 0);

/** Runs `evs` through `pipeline` on `store`, `request` events per ingest (a flush after each when `lockstep`). */
async function run(pipeline: CompiledPipeline, store: StateStore, evs: LoEvent[], request: number, lockstep: boolean) {
  const engine = new Engine(pipeline, { store, batchSize: 40 });
  await engine.start();
  try {
    for (let i = 0; i < evs.length; i += request) {
      await engine.ingest('extension', structuredClone(evs.slice(i, i + request)));
      if (lockstep) await engine.flush();
    }
    await engine.flush();
    // The teachers' table: each student's row reads the re-keyed states from the student's partition.
    const tables = [];
    for (const g of ['class-a', 'class-b', 'class-c', 'class-d']) {
      await engine.ensureLoaded('overview', g);
      tables.push(engine.aggregate('overview', g));
    }
    return { parts: await statesByPartition(store, pipeline.name, pipeline.partitions!.count), pending: engine.partitionStats().map((p) => p.forwardPending), tables: JSON.parse(JSON.stringify(tables)) as unknown };
  } finally {
    await engine.stop();
  }
}

const classOf = new Map(
  readFileSync(join(root, 'pipelines/rosters/demo.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').slice(0, 2) as [string, string]),
);

/**
 * Every state is in its key's partition (a student's in the student's, a class's in the class's); returns how
 * many students' re-keyed states hold sessions their class closed in another partition (items that crossed).
 */
function expectPlaced(parts: Array<Record<string, unknown>>): number {
  let crossed = 0;
  parts.forEach((states, n) => {
    for (const k of Object.keys(states)) {
      const [reducer, key] = k.split('/');
      expect({ k, n: partitionOf(key, parts.length) }).toEqual({ k, n });
      if (reducer === 'closed_by' && partitionOf(classOf.get(key)!, parts.length) !== n) crossed++;
    }
  });
  return crossed;
}

describe('re-keying back to the routing key (rekey reducers)', () => {
  it('in lockstep (one event, then flush) P = 4 and P = 16 give every state of P = 1, each in its own partition', async () => {
    const name = `rk${Date.now().toString(36)}`;
    const [one, four, sixteen] = await Promise.all([1, 4, 16].map((p) => compileAt(name, p)));
    expect(four.reducers.find((r) => r.name === 'closed_by')!.placement).toBe('rekey');
    const evs = events(300, 5);
    const base = await run(one, new MemoryStateStore(), evs, 1, true);
    const want = merged(base.parts);
    expect(total(want, 'closed_by')).toBeGreaterThan(20);
    expect(JSON.stringify(base.tables)).toMatch(/"closed":[1-9]/);
    for (const pipeline of [four, sixteen]) {
      const got = await run(pipeline, new MemoryStateStore(), evs, 1, true);
      expect(got.pending.every((p) => p === 0)).toBe(true);
      expect(merged(got.parts)).toEqual(want);
      expect(got.tables).toEqual(base.tables);
      expect(expectPlaced(got.parts)).toBeGreaterThan(3); // students whose class is in another partition
    }
  }, 120_000);

  it('with interleaved batches: each closed session counted once, in its student\'s partition (memory store and Redis)', async () => {
    const evs = events(3000, 6);
    for (const kind of ['memory', 'redis'] as const) {
      const name = `rk${kind[0]}${Date.now().toString(36)}`;
      const pipeline = await compileAt(name, 4);
      const single = await compileAt(name, 1);
      const store = kind === 'memory' ? new MemoryStateStore() : await RedisStateStore.connect(inject('redisUrl'));
      const got = await run(pipeline, store, evs, 250, false);
      const oracle = merged((await run(single, new MemoryStateStore(), evs, 250, false)).parts);
      expect(got.pending).toEqual([0, 0, 0, 0]);
      const states = merged(got.parts);
      // The class sessions depend on the order re-keyed items arrive in; whatever they are, every one of them
      // reached its student once: as many closed sessions counted by students as emitted by classes.
      expect(total(states, 'class_session_count')).toBeGreaterThan(50);
      expect(total(states, 'closed_by')).toBe(total(states, 'class_session_count'));
      expect(expectPlaced(got.parts)).toBeGreaterThan(3);
      // Order-free states equal P = 1's.
      for (const k of Object.keys(oracle).filter((k) => k.startsWith('events/'))) expect({ k, v: states[k] }).toEqual({ k, v: oracle[k] });
    }
  }, 120_000);

  it('on 3 workers on a 3-node Redis Cluster: each closed session counted once, in its student\'s partition', async () => {
    const name = `rkw${Date.now().toString(36)}`;
    const { file, pipeline } = await compiledFile(name, 4);
    const single = await compileAt(name, 1);
    const url = inject('redisClusterUrl');
    const data = mkdtempSync(join(tmpdir(), 'loflow-rekey-data-'));
    const store = await RedisStateStore.connect(url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const evs = events(3000, 7);
    const workers: WorkerChild[] = [];
    try {
      workers.push(await startWorker(file, url, data), await startWorker(file, url, data), await startWorker(file, url, data));
      for (let i = 0; i < evs.length; i += 250) await appender.append('extension', evs.slice(i, i + 250), { id: 'test', seq: i });
      await until('every partition drained', async () => (await drained(store.redis, name, 4)) && (await drained(store.redis, name, 4)), 120_000, 300);
      const parts = await statesByPartition(store, name, 4);
      const states = merged(parts);
      expect(total(states, 'class_session_count')).toBeGreaterThan(50);
      expect(total(states, 'closed_by')).toBe(total(states, 'class_session_count'));
      expect(expectPlaced(parts)).toBeGreaterThan(3);
      const oracle = merged((await run(single, new MemoryStateStore(), evs, 250, false)).parts);
      for (const k of Object.keys(oracle).filter((k) => k.startsWith('events/'))) expect({ k, v: states[k] }).toEqual({ k, v: oracle[k] });
      for (const w of workers) expect(w.out()).not.toMatch(/FENCED|conflict/i);
    } finally {
      for (const w of workers) await signal(w, 'SIGKILL');
      await appender.close();
      await store.close();
    }
  }, 240_000);
});
