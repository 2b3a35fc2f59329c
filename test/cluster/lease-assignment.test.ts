// T1 (lease part, docs/scale-out.md §11) and the rendezvous table's stickiness (§5.1), against real Redis for
// the leases: a worker's one-shot acquire answers the holder while it is held; a released lease has no token,
// so the releaser's late commit is FENCED; an expired one is taken with a new epoch and reports how long it lay
// free; the old holder's renewal answers LOST and its late commit is FENCED naming the new owner.
import { describe, expect, inject, it } from 'vitest';
import { assign } from '../../engine/cluster/assignment.js';
import { leaseKey } from '../../engine/state/key-layout.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';

const commit = (tag: string, from: number, to: number) => ({ pipeline: tag, writes: [], offset: to, from });

describe('the rendezvous table', () => {
  it('moves only the leaving worker\'s rows, and only rows to a joining worker', () => {
    const ids = ['w-a', 'w-b', 'w-c', 'w-d'];
    const P = 64;
    const four = assign(ids, P);
    for (const w of ids) expect(four.filter((o) => o === w).length).toBeGreaterThan(5); // spread, not all on one
    for (const gone of ids) {
      const three = assign(ids.filter((w) => w !== gone), P);
      four.forEach((o, n) => (o === gone ? expect(three[n]).not.toBe(gone) : expect(three[n]).toBe(o)));
    }
    const five = assign([...ids, 'w-e'], P);
    five.forEach((o, n) => expect(o === four[n] || o === 'w-e').toBe(true));
    expect(assign([...ids].reverse(), P)).toEqual(four); // every worker computes the same table
    expect(assign([], P)).toEqual([]);
  });
});

describe('worker leases on redis', () => {
  it('acquire once / HELD, release drops the token (late commit FENCED), expiry takeover with a new epoch, LOST and FENCED for the old holder', async () => {
    const old = process.env.LOFLOW_LEASE_MS;
    process.env.LOFLOW_LEASE_MS = '600';
    const tag = `l${Math.random().toString(36).slice(2, 8)}:p0`;
    const a = await RedisStateStore.connect(inject('redisUrl'));
    const b = await RedisStateStore.connect(inject('redisUrl'));
    a.manualLeases = b.manualLeases = true;
    try {
      const first = await a.tryAcquire(tag);
      expect(first).toMatchObject({ epoch: 1, committed: 0, freeForMs: 0 });
      expect(await b.tryAcquire(tag)).toMatchObject({ owner: a.owner });
      expect(await a.commit(commit(tag, 0, 5))).toBe('ok');

      await a.releaseLease(tag);
      expect(await a.redis.hget(leaseKey(tag), 'token')).toBeNull();
      await expect(a.commit(commit(tag, 5, 6))).rejects.toMatchObject({ code: 'FENCED' });
      expect(await b.tryAcquire(tag)).toMatchObject({ epoch: 2, committed: 5, freeForMs: 0 }); // released: no wait

      // b stops renewing (paused): its lease expires; a takes over and learns how long it lay free.
      b.lease(tag).drop();
      await new Promise((r) => setTimeout(r, 900));
      const taken = await a.tryAcquire(tag);
      expect(taken).toMatchObject({ epoch: 3, committed: 5 });
      expect((taken as { freeForMs: number }).freeForMs).toBeGreaterThan(0);
      await expect(b.commit(commit(tag, 5, 7))).rejects.toThrow(new RegExp(`^fenced: the lease of \\{${tag}\\} is held by ${a.owner} \\(epoch 3\\)`));
      expect(await a.redis.hget(`lf:{${tag}}:cur`, 'in')).toBe('5'); // nothing of b's batch

      // A holder whose lease was taken hears LOST at its next renewal.
      const c = await RedisStateStore.connect(inject('redisUrl'));
      c.manualLeases = true;
      a.lease(tag).drop(); // a "pauses" too
      await new Promise((r) => setTimeout(r, 900));
      await c.tryAcquire(tag);
      let lost = false;
      const l = a.lease(tag);
      await a.tryAcquire(tag).catch(() => undefined); // HELD by c: a holds nothing
      expect(l.held).toBeNull();
      const d = await RedisStateStore.connect(inject('redisUrl'));
      const dl = d.lease(tag);
      dl.onLost = () => (lost = true);
      // d takes it after c stops renewing, then c takes it back: d's renewal says LOST.
      c.lease(tag).drop();
      await new Promise((r) => setTimeout(r, 900));
      await d.tryAcquire(tag);
      await c.redis.hset(leaseKey(tag), 'until', '0'); // d's lease ends early (as after a long pause)
      await c.tryAcquire(tag);
      await new Promise((r) => setTimeout(r, 500));
      expect(lost).toBe(true);
      await Promise.all([c.close(), d.close()]);
    } finally {
      if (old === undefined) delete process.env.LOFLOW_LEASE_MS;
      else process.env.LOFLOW_LEASE_MS = old;
      await Promise.all([a.close(), b.close()]);
    }
  }, 30_000);

  it('F6b: a failover that loses an acquire repeats its epoch, and the token still fences the one who lost it', async () => {
    const old = process.env.LOFLOW_LEASE_MS;
    process.env.LOFLOW_LEASE_MS = '600';
    const tag = `f${Math.random().toString(36).slice(2, 8)}:p0`;
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => RedisStateStore.connect(inject('redisUrl'))));
    for (const s of [a, b, c]) s.manualLeases = true;
    try {
      expect(await a.tryAcquire(tag)).toMatchObject({ epoch: 1 });
      expect(await a.commit(commit(tag, 0, 5))).toBe('ok');
      // What a replica has: the lease as a held it (the primary will take b's acquire, then die before that
      // acquire reaches the replica).
      const replicated = await a.redis.hgetall(leaseKey(tag));
      a.lease(tag).drop();
      await new Promise((r) => setTimeout(r, 900));
      expect(await b.tryAcquire(tag)).toMatchObject({ epoch: 2 });
      // The failover: the promoted replica's lease is a's, expired; b's acquire is gone. c acquires: epoch 2
      // again, with its own token.
      await a.redis.del(leaseKey(tag));
      await a.redis.hset(leaseKey(tag), { ...replicated, until: '0' });
      expect(await c.tryAcquire(tag)).toMatchObject({ epoch: 2 });
      // Two processes believe they hold epoch 2; only c's token is in Redis.
      await expect(b.commit(commit(tag, 5, 6))).rejects.toMatchObject({ code: 'FENCED' });
      expect(await c.commit(commit(tag, 5, 7))).toBe('ok');
      expect(await c.redis.hget(`lf:{${tag}}:cur`, 'in')).toBe('7'); // nothing of b's batch
      await expect(a.commit(commit(tag, 7, 8))).rejects.toMatchObject({ code: 'FENCED' }); // nor of the first holder's
    } finally {
      if (old === undefined) delete process.env.LOFLOW_LEASE_MS;
      else process.env.LOFLOW_LEASE_MS = old;
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  }, 30_000);
});
