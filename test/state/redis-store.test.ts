import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryInputLog } from '../../engine/log/memory-log.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { Classroom } from '../../engine/classroom.js';
import { startRedis } from '../../bench/servers.js';

const demo = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');
const uniq = () => `t${Math.random().toString(36).slice(2, 8)}`;

async function run(store: RedisStateStore | undefined, events: Array<{ event: any }>, name?: string) {
  const { pipeline } = await compilePipelineFile(demo);
  if (name) pipeline!.name = name;
  const engine = new Engine(pipeline!, store ? { store } : {});
  for (let i = 0; i < events.length; i += 500) await engine.ingest('extension', events.slice(i, i + 500).map((e) => e.event));
  await engine.flush();
  return { engine, pipeline: pipeline! };
}

for (const [label, urlOf] of [
  ['redis', () => inject('redisUrl')],
  ['redis cluster (3 nodes)', () => inject('redisClusterUrl')],
] as const) {
  describe(`state in ${label}`, () => {
    it('gives the same states as the memory store, and a restarted engine resumes from Redis', async () => {
      const events = [...new Classroom({ students: 20, seed: 5 }).events(4000)];
      const name = uniq();
      const store = await RedisStateStore.connect(urlOf());
      const live = await run(store, events, name);
      const memory = await run(undefined, events);
      expect(live.engine.results().reducers).toEqual(memory.engine.results().reducers);
      expect(await store.offset(name)).toBe(4000);
      await live.engine.stop();
      // A new engine (cold cache) on the same Redis continues where the other stopped.
      const more = [...new Classroom({ students: 20, seed: 6, start: Date.UTC(2026, 1, 1) }).events(1000)];
      const store2 = await RedisStateStore.connect(urlOf());
      const log = new MemoryInputLog();
      await log.append(Array.from({ length: 4000 }, () => ({ stream: 'extension', event: { event: 'skipped' }, at: 0 }))); // already committed offsets
      const resumed = new Engine({ ...live.pipeline }, { store: store2, log });
      await resumed.start();
      for (let i = 0; i < more.length; i += 500) await resumed.ingest('extension', more.slice(i, i + 500).map((e) => e.event));
      await resumed.flush();
      const both = await run(undefined, [...events, ...more]);
      expect(resumed.view('events', 's-0003')).toBe(both.engine.view('events', 's-0003'));
      expect(resumed.view('burst_stats', 's-0007')).toEqual(both.engine.view('burst_stats', 's-0007'));
      const refs = [];
      for await (const [ref] of store2.scan(name, 'events')) refs.push(ref);
      expect(refs).toHaveLength(20);
      expect(await store2.drop(name, 'events')).toBe(20);
      await resumed.stop();
    });
  });
}

describe('redis outage', () => {
  it('fails with UNAVAILABLE while Redis is down, and the engine catches up by itself when it returns', async () => {
    // Redis comes back with its data (AOF, fsync'ed per write): a Redis that lost its data would have lost
    // the lease and cursor too, and the engine stops (FENCED) rather than write on top of nothing.
    const persisted = { dir: mkdtempSync(join(tmpdir(), 'loflow-outage-')), args: ['--appendonly', 'yes', '--appendfsync', 'always'] };
    const redis = await startRedis(persisted);
    const store = await RedisStateStore.connect(redis.url);
    const { pipeline } = await compilePipelineFile(demo);
    const engine = new Engine(pipeline!, { store, retryMs: 20 });
    // Each key is 3 events now: 400 events before the outage, 200 during it. The batch during the outage opens
    // new documents (text keys at events 468 and 585), so it fails on loading them, before reducing anything.
    const events = [...new Classroom({ students: 5, seed: 9 }).events(600)].map((e) => e.event);
    await engine.ingest('extension', events.slice(0, 400));
    await engine.flush();
    await redis.stop();
    await expect(store.load([{ pipeline: 'p', reducer: 'r', version: 'v', key: 'k' }])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const accepted = await engine.ingest('extension', events.slice(400));
    expect(accepted.accepted).toBe(200); // accepted into the log: nothing lost
    await new Promise((r) => setTimeout(r, 300));
    expect(engine.health().ok).toBe(false);
    const back = await startRedis({ ...persisted, port: redis.port });
    try {
      await engine.flush();
      expect(engine.health().ok).toBe(true);
      const total = engine.keys('events').reduce((s, k) => s + (engine.view('events', k) as number), 0);
      expect(total).toBe(600);
      expect(await store.offset(pipeline!.name)).toBe(600);
    } finally {
      await engine.stop();
      await back.stop();
    }
  });
});
