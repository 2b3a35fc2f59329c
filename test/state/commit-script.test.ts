// T1 (commit part, docs/scale-out.md §11): commit.lua against real Redis, single and a 3-node cluster. A
// stale lease holder's commit is FENCED with nothing written; a commit on a moved base is a CONFLICT with
// nothing written; the same batch twice is DONE (a lost reply) and changes nothing; and an engine whose lease
// another process took stops owning the pipeline: it says so (health, metric counter, 'fenced' event) and
// refuses ingest, and the store keeps the other owner's states.
import { describe, expect, inject, it } from 'vitest';
import { Redis, Cluster } from 'ioredis';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import { curKey, inKey, leaseKey, stateKey } from '../../engine/state/key-layout.js';
import { Lease } from '../../engine/state/lease.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { StateRef } from '../../engine/types.js';

const demo = new URL('../../pipelines/writing-observer.yaml', import.meta.url).pathname;
const uniq = () => `c${Math.random().toString(36).slice(2, 8)}`;
const ref = (pipeline: string, key: string): StateRef => ({ pipeline, reducer: 'events', version: 'v1', key });

/** A second process's view of the same Redis: its own store (own lease), and the raw keys. */
async function snapshotKeys(redis: Redis | Cluster, pipeline: string, keys: string[]) {
  const [lease, cur] = await Promise.all([redis.hgetall(leaseKey(pipeline)), redis.hgetall(curKey(pipeline))]);
  return { lease, cur, states: await redis.mget(...keys) };
}

function rawClient(url: string): Redis | Cluster {
  if (!url.startsWith('redis-cluster://')) return new Redis(url);
  return new Cluster(url.slice('redis-cluster://'.length).split(',').map((hp) => ({ host: hp.split(':')[0], port: Number(hp.split(':')[1]) })));
}

for (const [label, urlOf] of [
  ['redis', () => inject('redisUrl')],
  ['redis cluster (3 nodes)', () => inject('redisClusterUrl')],
] as const) {
  describe(`commit.lua on ${label}`, () => {
    // A worker's commit that failed (its replica did not answer WAIT) is retried as it is; after a failover the
    // retry reaches a promoted replica whose input stream never had the entries the batch was read from, or
    // holds others there (re-sends appended since). It must be refused, not applied (docs/scale-out.md §9 F7).
    it('refuses (CONFLICT, nothing written) a batch whose last input entry this node does not hold as it was read', async () => {
      const p = uniq();
      const raw = rawClient(urlOf());
      const a = await RedisStateStore.connect(urlOf());
      try {
        await a.acquire(p);
        // The stream as the promoted node holds it: entries 1..3 (offsets 0..2), arrivals 1001..1003.
        for (let i = 1; i <= 3; i++) await raw.xadd(inKey(p), `0-${i}`, 's', 'x', 't', String(1000 + i), 'e', '{}');
        const batch = (offset: number, at: number | null) => ({ pipeline: p, from: 0, offset: offset + 1, writes: [[ref(p, 's-1'), offset]] as Array<[StateRef, number]>, check: { offset, at } });
        // Read elsewhere: offset 4 does not exist here; offset 2 holds another entry (another arrival).
        await expect(a.commit(batch(4, 1005))).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/does not hold .*at offset 4 it has no entry.*a failover dropped them; nothing was written/) });
        await expect(a.commit(batch(2, 9999))).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/at offset 2 it has one that arrived at 1003/) });
        // A batch that read an offset as empty (a missing id reads as a tombstone) where this node has an entry.
        await expect(a.commit(batch(1, null))).rejects.toMatchObject({ code: 'CONFLICT' });
        expect(await raw.hget(curKey(p), 'in')).toBeNull();
        expect(await raw.get(stateKey(ref(p, 's-1')))).toBeNull();
        // As read: committed.
        expect(await a.commit(batch(2, 1003))).toBe('ok');
        expect(await raw.hget(curKey(p), 'in')).toBe('3');
        // An offset read as empty and empty here too: committed.
        expect(await a.commit({ ...batch(4, null), from: 3 })).toBe('ok');
        expect(await raw.hget(curKey(p), 'in')).toBe('5');
      } finally {
        await a.close();
        raw.disconnect();
      }
    });

    it('answers OK, DONE for the same batch again, CONFLICT for another base and FENCED for a stale holder, writing nothing when refused', async () => {
      const p = uniq();
      const raw = rawClient(urlOf());
      const a = await RedisStateStore.connect(urlOf());
      const b = await RedisStateStore.connect(urlOf());
      try {
        expect((await a.acquire(p)).epoch).toBe(1);
        const batch = { pipeline: p, from: 0, offset: 100, clock: 5000, writes: [[ref(p, 's-1'), 1], [ref(p, 's-2|d-9'), { n: 2 }]] as Array<[StateRef, number | { n: number }]> };
        expect(await a.commit(batch)).toBe('ok');
        const afterOk = await snapshotKeys(raw, p, [stateKey(ref(p, 's-1'))]);
        expect(afterOk.cur).toMatchObject({ in: '100', clock: '5000' });
        expect(await a.keysWithPart(p, [{ reducer: 'events', version: 'v1', part: 'd-9' }])).toEqual([['s-2|d-9']]);

        // The same batch again (its first reply lost): DONE, and its states are not written again.
        expect(await a.commit({ ...batch, writes: [[ref(p, 's-1'), 999]] })).toBe('done');
        expect(await raw.get(stateKey(ref(p, 's-1')))).toBe('1');

        // Computed from another base: refused whole.
        await expect(a.commit({ pipeline: p, from: 50, offset: 150, writes: [[ref(p, 's-1'), 7]] })).rejects.toMatchObject({ code: 'CONFLICT' });
        expect(await snapshotKeys(raw, p, [stateKey(ref(p, 's-1'))])).toEqual(afterOk);

        // b cannot take a live lease; once a's expires (a paused past its lease), it can, with a new epoch.
        await expect(new Lease(b.redis, p).acquire(300)).rejects.toMatchObject({ code: 'LEASE_HELD' });
        await raw.hset(leaseKey(p), 'until', 0);
        expect((await b.acquire(p)).epoch).toBe(2);
        expect(await b.commit({ pipeline: p, from: 100, offset: 120, writes: [[ref(p, 's-1'), 2]] })).toBe('ok');
        const afterB = await snapshotKeys(raw, p, [stateKey(ref(p, 's-1')), stateKey(ref(p, 's-3'))]);

        // The stale holder's next batch: FENCED, naming the new owner; nothing of it lands.
        const fenced = a.commit({ pipeline: p, from: 120, offset: 200, clock: 9000, writes: [[ref(p, 's-1'), 66], [ref(p, 's-3'), 3]], deadLetters: [{ stream: 'x', event: {}, reason: 'r', at: 1, stage: 'key' }] });
        await expect(fenced).rejects.toMatchObject({ code: 'FENCED' });
        await expect(fenced).rejects.toThrow(/held by .+ \(epoch 2\)/);
        expect(await snapshotKeys(raw, p, [stateKey(ref(p, 's-1')), stateKey(ref(p, 's-3'))])).toEqual(afterB);
        expect(afterB.states).toEqual(['2', null]);
        expect(await raw.exists(`lf:{${p}}:dl`)).toBe(0);
        expect(a.answers).toEqual({ ok: 1, done: 1, fenced: 1, conflict: 1 });
      } finally {
        await Promise.all([a.close(), b.close()]);
        raw.disconnect();
      }
    });
  });
}

describe('an engine whose lease another process took', () => {
  it('stops owning the pipeline: fenced answer, health and counter say so, ingest is refused, the store keeps the new owner’s states', async () => {
    const { pipeline } = await compilePipelineFile(demo);
    const p = { ...pipeline!, name: uniq() };
    const events = [...new Classroom({ students: 5, seed: 3 }).events(300)].map((e) => e.event);
    const storeA = await RedisStateStore.connect(inject('redisUrl'));
    const engine = new Engine(p, { store: storeA, retryMs: 10 });
    const fencedEvents: Error[] = [];
    engine.on('fenced', (e: Error) => fencedEvents.push(e));
    await engine.ingest('extension', events.slice(0, 200));
    await engine.flush();
    const raw = new Redis(inject('redisUrl'));
    const storeB = await RedisStateStore.connect(inject('redisUrl'));
    try {
      // A is paused past its lease; B (another process) takes the pipeline over and commits a batch.
      await raw.hset(leaseKey(p.name), 'until', 0);
      await storeB.acquire(p.name);
      await storeB.commit({ pipeline: p.name, from: 200, offset: 210, writes: [[{ pipeline: p.name, reducer: 'events', version: p.reducers.find((r) => r.name === 'events')!.version, key: 's-0000' }, 12345]] });
      const before = await raw.hgetall(curKey(p.name));
      await engine.ingest('extension', events.slice(200)).catch(() => undefined);
      await expect(engine.flush()).rejects.toMatchObject({ code: 'FENCED' });
      expect(fencedEvents).toHaveLength(1);
      expect(engine.stats().commits).toMatchObject({ ok: expect.any(Number), fenced: 1 });
      expect(engine.health()).toMatchObject({ ok: false, error: expect.stringMatching(/fenced/) });
      await expect(engine.ingest('extension', events.slice(0, 1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect(await raw.hgetall(curKey(p.name))).toEqual(before);
      expect(await storeB.load([{ pipeline: p.name, reducer: 'events', version: p.reducers.find((r) => r.name === 'events')!.version, key: 's-0000' }])).toEqual([12345]);
      await expect(engine.flush()).rejects.toMatchObject({ code: 'FENCED' });
      await engine.stop(); // a fenced engine still stops (and closes its store) without waiting for a flush
    } finally {
      engine.abort();
      await storeA.close();
      await storeB.close();
      raw.disconnect();
    }
  });
});
