// T8 (docs/scale-out.md §6, §11): exchange edges on real Redis. A student → class re-keying cascade
// (student-keyed `bursts` emitting `burst`, class-keyed `class_bursts` over it, class-keyed `class_events`
// over raw events) with P = 4 on 3 `serve --role worker` children on the 3-node cluster equals an
// uninterrupted single-process P = 1 run, also when workers are SIGKILLed between a commit and its forward
// and between a forward's copy and its cursor move. By hand: forwarding the same fwd entries twice is refused
// by the target stream and changes nothing; a zombie's commit with forwards is FENCED and leaves no fwd entry.
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { partitionStoreName } from '../../engine/partition.js';
import { clusterStatus } from '../../engine/state/cluster-status.js';
import { curKey, fwdKey, leaseKey, rpKey } from '../../engine/state/key-layout.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { runScript } from '../../engine/state/run-script.js';
import type { Commit, LoEvent } from '../../engine/types.js';
import { drained, exchangeDemo, exchanged, expectEqualStates } from './exchange-fixture.js';
import { feedAndDrain } from '../cli/cluster-fixture.js';
import { serveChild } from '../hardening/serve-child.js';
import { classroomEvents, oracle, partitionedStates, signal, startWorker, until, type WorkerChild } from './worker-fixture.js';

const P = 4;
const EVENTS = 4000;

/** Entries waiting in every partition's fwd. */
async function fwdTotal(store: RedisStateStore, name: string): Promise<number> {
  let n = 0;
  for (let p = 0; p < P; p++) n += await store.redis.xlen(fwdKey(partitionStoreName(name, p, P)));
  return n;
}

const classKeys = (states: Record<string, unknown>) => Object.keys(states).filter((k) => k.startsWith('class_'));

describe('exchange edges on real Redis (3-node cluster; one Redis for the one-process engine)', () => {
  it('a student → class cascade with P = 4 on 3 workers equals a single-process P = 1 run', async () => {
    const name = `ex${Date.now().toString(36)}`;
    const { file, pipeline, single } = await exchangeDemo(name, P);
    const url = inject('redisClusterUrl');
    const data = mkdtempSync(join(tmpdir(), 'loflow-exchange-data-'));
    const store = await RedisStateStore.connect(url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const events = classroomEvents(EVENTS, 33);
    const workers: WorkerChild[] = [];
    try {
      workers.push(await startWorker(file, url, data), await startWorker(file, url, data), await startWorker(file, url, data));
      for (let i = 0; i < EVENTS; i += 250) await appender.append('extension', events.slice(i, i + 250), { id: 'test', seq: i });
      await until('every partition drained', async () => (await drained(store.redis, name, P)) && (await drained(store.redis, name, P)), 120_000, 300);
      expect(await exchanged(store.redis, name, P)).toBeGreaterThan(100); // items did cross partitions
      const want = await oracle(single, events);
      const got = await partitionedStates(store, name, P);
      expect(classKeys(want).length).toBeGreaterThan(4);
      expectEqualStates(got, want);
      for (const w of workers) expect(w.out()).not.toMatch(/FENCED|conflict/i);
      // Each worker's /metrics has loflow_forward_pending per partition it holds: nothing left to forward.
      const pending = (await Promise.all(workers.map(async (w) => (await (await fetch(`${w.url}/metrics`)).text()).match(/^loflow_forward_pending\{partition="\d+"\} \d+$/gm) ?? []))).flat();
      expect(pending.length).toBe(P);
      for (const line of pending) expect(line).toMatch(/ 0$/);
    } finally {
      for (const w of workers) await signal(w, 'SIGKILL');
      await appender.close();
      await store.close();
    }
  }, 240_000);

  it('SIGKILLs between a commit and its forward, and between a copy and its cursor move: still equal', async () => {
    const name = `ek${Date.now().toString(36)}`;
    const { file, pipeline, single } = await exchangeDemo(name, P);
    const url = inject('redisClusterUrl');
    const data = mkdtempSync(join(tmpdir(), 'loflow-exchange-data-'));
    const store = await RedisStateStore.connect(url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const events = classroomEvents(EVENTS, 34);
    const workers: WorkerChild[] = [];
    const append = async (from: number, to: number) => {
      for (let i = from; i < to; i += 250) await appender.append('extension', events.slice(i, Math.min(to, i + 250)), { id: 'test', seq: i });
    };
    try {
      // Alone, a hooked worker holds every partition, so its first forwarding commit (before) or its first copy
      // (after) comes for sure: it kills itself there, and the next worker takes over from what it left.
      const before = await startWorker(file, url, data, { LOFLOW_TEST_KILL_AT_FORWARD: 'before' });
      workers.push(before);
      await append(0, EVENTS / 2);
      await until('the worker hooked before forwarding killed itself', () => !before.alive(), 60_000);
      expect(before.child.signalCode).toBe('SIGKILL');
      expect(await fwdTotal(store, name)).toBeGreaterThan(0); // committed, not forwarded
      const after = await startWorker(file, url, data, { LOFLOW_TEST_KILL_AT_FORWARD: 'after' });
      workers.push(after);
      await until('the worker hooked after a copy killed itself', () => !after.alive(), 60_000);
      expect(after.child.signalCode).toBe('SIGKILL');
      workers.push(await startWorker(file, url, data), await startWorker(file, url, data)); // they take over and repeat the copy
      await append(EVENTS / 2, EVENTS);
      await until('every partition drained', async () => (await drained(store.redis, name, P)) && (await drained(store.redis, name, P)), 120_000, 300);
      expectEqualStates(await partitionedStates(store, name, P), await oracle(single, events));
    } finally {
      for (const w of workers) await signal(w, 'SIGKILL');
      await appender.close();
      await store.close();
    }
  }, 240_000);

  it('in one process (an Engine with P = 4 tasks on one Redis, as `serve --role all`): flush waits for re-keyed items; equal to P = 1', async () => {
    const name = `ee${Date.now().toString(36)}`;
    const { pipeline, single } = await exchangeDemo(name, P);
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const reader = await RedisStateStore.connect(inject('redisUrl'));
    const events = classroomEvents(2000, 35);
    const engine = new Engine(pipeline, { store });
    try {
      await engine.start();
      for (let i = 0; i < events.length; i += 250) await engine.ingest('extension', structuredClone(events.slice(i, i + 250)));
      await engine.flush();
      expect(await exchanged(reader.redis, name, P)).toBeGreaterThan(50);
      expect(await drained(reader.redis, name, P)).toBe(true);
      expect(engine.partitionStats().map((p) => p.forwardPending)).toEqual([0, 0, 0, 0]);
      expectEqualStates(await partitionedStates(reader, name, P), await oracle(single, events));
    } finally {
      await engine.stop();
      await reader.close();
    }
  }, 120_000);

  it('serve --role all, P = 4, --checkpoint redis (the CLI): after a graceful stop, equal to P = 1', async () => {
    const name = `es${Date.now().toString(36)}`;
    const { file, single } = await exchangeDemo(name, P);
    const url = inject('redisUrl');
    const events = classroomEvents(1500, 37);
    const s = await serveChild(['--state', url, '--checkpoint', 'redis', '--durability', 'none'], {}, file);
    try {
      await feedAndDrain(s, events);
    } finally {
      await s.stop(); // SIGTERM: Engine.stop flushes, which waits for every re-keyed item
    }
    const reader = await RedisStateStore.connect(url);
    try {
      expect(await drained(reader.redis, name, P)).toBe(true);
      expect(await exchanged(reader.redis, name, P)).toBeGreaterThan(50);
      expectEqualStates(await partitionedStates(reader, name, P), await oracle(single, events));
    } finally {
      await reader.close();
    }
  }, 120_000);

  it('in one process on the memory store (P = 4 tasks, the same protocol over in-memory lists): equal to P = 1', async () => {
    const { pipeline, single } = await exchangeDemo(`em${Date.now().toString(36)}`, P);
    const store = new MemoryStateStore();
    const events = classroomEvents(2000, 36);
    const engine = new Engine(pipeline, { store });
    await engine.start();
    for (let i = 0; i < events.length; i += 250) await engine.ingest('extension', structuredClone(events.slice(i, i + 250)));
    await engine.flush();
    const got = await partitionedStates(store, pipeline.name, P);
    const stats = engine.partitionStats();
    await engine.stop();
    expect(stats.map((p) => p.forwardPending)).toEqual([0, 0, 0, 0]);
    const want = await oracle(single, events);
    expect(classKeys(want).length).toBeGreaterThan(4);
    expectEqualStates(got, want);
  }, 120_000);

  it('by hand: the same fwd entries forwarded twice are refused and change nothing; a zombie’s commit with forwards is FENCED and leaves no fwd entry', async () => {
    const url = inject('redisClusterUrl');
    const name = `eh${Math.random().toString(36).slice(2, 8)}`;
    const src = partitionStoreName(name, 0, 2);
    const dst = partitionStoreName(name, 1, 2);
    const a = await RedisStateStore.connect(url);
    const b = await RedisStateStore.connect(url);
    const raw = a.redis;
    const item = (i: number) => ({ to: 1, reducer: 'class_events', key: 'class-b', event: { auth: { user_id: `s-${i}` } } as LoEvent, at: 1000 + i, o: `0:3:${i}` });
    try {
      await a.acquire(src);
      const commit: Commit = { pipeline: src, from: 0, offset: 0, writes: [], apply: 3, forward: [item(0), item(1), item(2)] };
      expect(await a.commit(commit)).toBe('ok');
      const fwd = (await raw.xrange(fwdKey(src), '-', '+')) as Array<[string, string[]]>;
      expect(fwd.map(([, f]) => f[f.indexOf('o') + 1])).toEqual(['0:3:0', '0:3:1', '0:3:2']);
      // `cluster status` shows them waiting to be forwarded.
      const status = await clusterStatus(raw, { name, partitions: { count: 2, by: 'student' } });
      expect(status.rows.map((r) => r.forwardPending)).toEqual([3, 0]);
      // Copy by hand, twice: the second time every entry is refused as a repeat, the target unchanged.
      const args = fwd.flatMap(([id, f]) => {
        const v = (k: string) => f[f.indexOf(k) + 1];
        return [id, v('r'), v('k'), v('o'), v('t'), v('e')];
      });
      const target = rpKey(dst, 0);
      expect(await runScript(raw, 'lfRpAdd', [target], [3, ...args])).toEqual([3, 0]);
      const copied = await raw.xrange(target, '-', '+');
      expect(copied.map(([id]) => id)).toEqual(fwd.map(([id]) => id));
      expect(await runScript(raw, 'lfRpAdd', [target], [3, ...args])).toEqual([0, 3]);
      expect(await raw.xrange(target, '-', '+')).toEqual(copied);

      // The owner's forwarder finds them copied (refused), moves cur.fwd and trims fwd; the target is unchanged.
      const link = a.exchangeLink(name, 0, 2);
      await link.open();
      await link.forward();
      expect(link.refused).toBe(3);
      expect(await raw.hget(curKey(src), 'fwd')).toBe(fwd[2][0]);
      expect(await raw.xlen(fwdKey(src))).toBe(0);
      expect(await raw.xrange(target, '-', '+')).toEqual(copied);

      // The consumer side: the target reads the three once, its commit moves rp:0; the same batch again is DONE.
      await b.acquire(dst);
      const inbox = b.exchangeLink(name, 1, 2);
      await inbox.open();
      const read = await inbox.read(100);
      expect(read.items.map((i) => i.o)).toEqual(['0:3:0', '0:3:1', '0:3:2']);
      const consume: Commit = { pipeline: dst, from: 0, offset: 0, writes: [], apply: 3, rp: read.moves };
      expect(await b.commit(consume)).toBe('ok');
      expect(await b.commit(consume)).toBe('done');
      await expect(b.commit({ ...consume, rp: [{ source: 0, from: '0-0', to: '9-9' }] })).rejects.toMatchObject({ code: 'CONFLICT' });
      inbox.committed(consume);
      expect((await inbox.read(100)).items).toEqual([]);

      // a's lease runs out and b takes the partition: a's late commit with forwards is FENCED, fwd stays empty.
      await raw.hset(leaseKey(src), 'until', 0);
      expect((await b.acquire(src)).epoch).toBe(2);
      const zombie: Commit = { pipeline: src, from: 0, offset: 0, writes: [], apply: 4, forward: [item(3)] };
      await expect(a.commit(zombie)).rejects.toMatchObject({ code: 'FENCED' });
      expect(await raw.xlen(fwdKey(src))).toBe(0);
      expect(await raw.hget(curKey(src), 'apply')).toBe('3');
      await link.close();
      await inbox.close();
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});
