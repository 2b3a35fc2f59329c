// The Redis Stream input log (`--checkpoint redis`): its durability modes are checked against the Redis
// settings (and `replicated` refuses to acknowledge without a replica), the producer contract (T5b of
// docs/scale-out.md §11) holds exactly, and trimming never passes the committed cursor.
import { describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis } from '../../bench/servers.js';
import { openCheckpoint } from '../../engine/checkpoint/open.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { runScript } from '../../engine/state/run-script.js';

const demo = new URL('../../pipelines/writing-observer.yaml', import.meta.url).pathname;
const uniq = () => `l${Math.random().toString(36).slice(2, 8)}`;
const aof = ['--appendonly', 'yes'];

async function engineOn(url: string, durability = 'none') {
  const { pipeline } = await compilePipelineFile(demo);
  const p = { ...pipeline!, name: uniq() };
  const store = await RedisStateStore.connect(url);
  const { log } = await openCheckpoint('redis', p.name, store, durability);
  return { engine: new Engine(p, { store, log: log! }), name: p.name, store };
}

describe('Redis Stream log: durability modes', () => {
  it('refuses a mode the Redis settings cannot give, and needs a Redis state store', async () => {
    const store = await RedisStateStore.connect(inject('redisUrl')); // the shared test Redis: appendonly no
    try {
      await expect(openCheckpoint('redis', uniq(), store, 'local')).rejects.toThrow(/durability 'local' needs appendonly yes .* or choose --durability none/);
      await expect(openCheckpoint('redis', uniq(), store, 'eventually')).rejects.toThrow(/unknown durability 'eventually': use none, local, fsync, replicated/);
      await expect(openCheckpoint('redis', uniq(), undefined, 'none')).rejects.toThrow(/needs --state redis/);
    } finally {
      await store.close();
    }
    const server = await startRedis({ args: aof });
    const s2 = await RedisStateStore.connect(server.url);
    try {
      expect((await openCheckpoint('redis', uniq(), s2, 'local')).describe).toMatch(/durability local/);
      await expect(openCheckpoint('redis', uniq(), s2, 'fsync')).rejects.toThrow(/appendfsync always .* \(it has everysec\)/);
      await expect(openCheckpoint('redis', uniq(), s2, 'replicated')).rejects.toThrow(/needs a connected replica/);
    } finally {
      await s2.close();
      await server.stop();
    }
  });

  it('replicated: acknowledges only what a replica has (WAIT 1); without the replica, ingest fails UNAVAILABLE', async () => {
    const primary = await startRedis({ args: aof });
    const replica = await startRedis({ args: [...aof, '--replicaof', '127.0.0.1', String(primary.port)] });
    let replicaStopped = false;
    const old = process.env.LOFLOW_WAIT_MS;
    process.env.LOFLOW_WAIT_MS = '300';
    try {
      const probe = new Redis(primary.url);
      for (let i = 0; i < 100 && !/slave0:.*state=online/.test(await probe.info('replication')); i++) await new Promise((r) => setTimeout(r, 100));
      probe.disconnect();
      const { engine, name } = await engineOn(primary.url, 'replicated');
      const events = [...new Classroom({ students: 3, seed: 2 }).events(40)].map((e) => e.event);
      expect((await engine.ingest('extension', events.slice(0, 20))).accepted).toBe(20);
      const onReplica = new Redis(replica.url);
      expect(await onReplica.xlen(`lf:{${name}}:in`)).toBe(20); // WAIT returned: the replica has them
      onReplica.disconnect();
      await engine.flush();
      await replica.stop();
      replicaStopped = true;
      await expect(engine.ingest('extension', events.slice(20))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      engine.abort();
      await engine.store.close();
    } finally {
      if (old === undefined) delete process.env.LOFLOW_WAIT_MS;
      else process.env.LOFLOW_WAIT_MS = old;
      if (!replicaStopped) await replica.stop();
      await primary.stop();
    }
  });
});

describe('Redis Stream log: producers and trimming', () => {
  it('T5b: drops a re-sent request exactly; a producer whose requests overtake each other sees the earlier one counted as duplicates', async () => {
    const { engine, name } = await engineOn(inject('redisUrl'));
    const ev = [...new Classroom({ students: 4, seed: 8 }).events(60)].map((e) => e.event);
    try {
      expect(await engine.ingest('extension', ev.slice(0, 20), Date.now(), { id: 'p1', seq: 0 })).toMatchObject({ accepted: 20, duplicates: 0, firstOffset: 0 });
      // The same request again (its answer was lost): every event is a duplicate, nothing appended.
      expect(await engine.ingest('extension', ev.slice(0, 20), Date.now(), { id: 'p1', seq: 0 })).toMatchObject({ duplicates: 20 });
      // A re-send overlapping new events: only the new ones are appended.
      expect(await engine.ingest('extension', ev.slice(10, 30), Date.now(), { id: 'p1', seq: 10 })).toMatchObject({ accepted: 20, duplicates: 10, firstOffset: 20 });
      // The contract broken: seq 40.. arrives before seq 30.. (two requests in flight, reordered). The
      // earlier request is then indistinguishable from a re-send: all of it is reported as duplicates.
      expect(await engine.ingest('extension', ev.slice(40, 50), Date.now(), { id: 'p1', seq: 40 })).toMatchObject({ duplicates: 0 });
      expect(await engine.ingest('extension', ev.slice(30, 40), Date.now(), { id: 'p1', seq: 30 })).toMatchObject({ duplicates: 10 });
      // Another producer is independent.
      expect(await engine.ingest('extension', ev.slice(50, 60), Date.now(), { id: 'p2', seq: 0 })).toMatchObject({ duplicates: 0 });
      await engine.flush();
      const raw = new Redis(inject('redisUrl'));
      expect(await raw.xlen(`lf:{${name}}:in`)).toBe(50);
      expect(await raw.hgetall(`lf:{${name}}:prod`)).toEqual({ p1: '49', p2: '9' });
      expect((await raw.xrange(`lf:{${name}}:in`, '-', '+')).map(([id]) => id)).toEqual(Array.from({ length: 50 }, (_, i) => `0-${i + 1}`));
      raw.disconnect();
      expect(engine.stats()).toMatchObject({ committedOffset: 50, logEnd: 50 });
    } finally {
      await engine.stop();
    }
  });

  it('trims only below the committed cursor, however far the caller asks (trim.lua)', async () => {
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const name = uniq();
    const { log } = await openCheckpoint('redis', name, store, 'none');
    try {
      await log!.append(Array.from({ length: 1000 }, (_, i) => ({ stream: 'extension', event: { i } as never, at: 1 })));
      const key = `lf:{${name}}:in`;
      const firstId = async () => Number((await store.redis.xrange(key, '-', '+', 'COUNT', 1))[0][0].slice(2));
      expect(await firstId()).toBe(1);
      // Committed up to offset 500; asked to trim below 900: entries from offset 500 (id 0-501) on stay.
      await store.redis.hset(`lf:{${name}}:cur`, 'in', 500);
      await runScript(store.redis, 'lfTrim', [key, `lf:{${name}}:cur`], [900]);
      const afterFirst = await firstId();
      expect(afterFirst).toBeGreaterThan(300); // trimmed (whole stream nodes of 100 entries: MINID ~)
      expect(afterFirst).toBeLessThanOrEqual(501);
      await store.redis.hset(`lf:{${name}}:cur`, 'in', 1000);
      await runScript(store.redis, 'lfTrim', [key, `lf:{${name}}:cur`], [900]);
      expect(await firstId()).toBeGreaterThan(afterFirst);
      expect(await firstId()).toBeLessThanOrEqual(901);
      expect((await log!.read(900, 5)).map((e) => e.offset)).toEqual([900, 901, 902, 903, 904]);
    } finally {
      await store.close();
    }
  });
});
