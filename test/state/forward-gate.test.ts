// docs/scale-out.md §9, F6c: with durability `replicated`, an exchange forwarder copies a commit's items to
// their target partitions only once a replica has that commit. A real primary and replica; the replica is
// SIGSTOPped so WAIT 1 cannot be answered: nothing may reach the target stream until it is SIGCONTed.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../bench/servers.js';
import { partitionStoreName } from '../../engine/partition.js';
import { curKey, fwdKey, leaseKey, rpKey } from '../../engine/state/key-layout.js';
import { RedisExchange } from '../../engine/state/redis-exchange.js';
import { until } from '../hardening/serve-child.js';

describe('exchange forwarding, durability replicated', () => {
  let primary: RunningRedis;
  let replica: RunningRedis;
  let redis: Redis;
  const waitMs = process.env.LOFLOW_WAIT_MS;
  beforeAll(async () => {
    process.env.LOFLOW_WAIT_MS = '300';
    primary = await startRedis({ args: ['--appendonly', 'yes'] });
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    redis = new Redis(primary.url);
    await until(async () => /connected_slaves:1/.test(await redis.info('replication')), 20_000);
  });
  afterAll(async () => {
    if (waitMs === undefined) delete process.env.LOFLOW_WAIT_MS;
    else process.env.LOFLOW_WAIT_MS = waitMs;
    try {
      process.kill(replica.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    redis?.disconnect();
    await replica?.stop();
    await primary?.stop();
  });

  it('copies nothing to the target while no replica acknowledges, and everything once one does', async () => {
    const pipeline = `gate${Date.now().toString(36)}`;
    const tag = partitionStoreName(pipeline, 0, 2);
    const target = rpKey(partitionStoreName(pipeline, 1, 2), 0);
    // Partition 0's lease and two committed items for partition 1 (the fields commit.lua writes).
    await redis.hset(leaseKey(tag), 'token', 'tk', 'owner', 'test', 'epoch', '1');
    for (const k of ['s-1', 's-2']) await redis.xadd(fwdKey(tag), '*', 'to', '1', 'r', 'per_class', 'k', 'class-a', 'o', k, 't', '0', 'e', JSON.stringify({ event: 'keystroke', k }));
    const link = new RedisExchange(redis, pipeline, 0, 2, () => 'tk', 'replicated');
    process.kill(replica.pid, 'SIGSTOP');
    try {
      await link.forward();
      expect(link.busy).toBe(true); // the round failed: it is retried while the partition is ours
      expect(await redis.xlen(target)).toBe(0);
      expect(await redis.hget(curKey(tag), 'fwd')).toBeNull();
    } finally {
      process.kill(replica.pid, 'SIGCONT');
    }
    await until(async () => {
      await link.forward();
      return (await redis.xlen(target)) === 2;
    }, 20_000);
    expect(link.busy).toBe(false);
    expect(await redis.hget(curKey(tag), 'fwd')).not.toBeNull();
    // Without `replicated` the same round does not wait (the window F6c describes stays, documented).
    await redis.xadd(fwdKey(tag), '*', 'to', '1', 'r', 'per_class', 'k', 'class-a', 'o', 's-3', 't', '0', 'e', '{}');
    process.kill(replica.pid, 'SIGSTOP');
    try {
      await new RedisExchange(redis, pipeline, 0, 2, () => 'tk', 'local').forward();
      expect(await redis.xlen(target)).toBe(3);
    } finally {
      process.kill(replica.pid, 'SIGCONT');
    }
  }, 60_000);
});
