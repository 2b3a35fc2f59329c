// An idle worker learns of appended events by a blocking XREAD per owned partition (engine/cluster/log-waiter.ts),
// not by polling cur.end: it picks up what is appended after it went idle, on one Redis and on a 3-node
// cluster, and while idle it sends Redis no reads of cur.end at all.
import { describe, expect, inject, it } from 'vitest';
import { startRedis } from '../../bench/servers.js';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { Worker } from '../../engine/cluster/worker.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, leases, oracle, partitionedDemo, partitionedStates, until } from './worker-fixture.js';

const P = 4;

async function idleWorkerPicksUp(url: string, quietCheck: boolean) {
  const { pipeline, single } = await partitionedDemo(`lw${Math.random().toString(36).slice(2, 7)}`, P);
  const store = await RedisStateStore.connect(url);
  const feed = await RedisStateStore.connect(url);
  const appender = await PartitionAppender.open(feed.redis, pipeline);
  const worker = new Worker(pipeline, store, { durability: 'none', deadLetters: new MemoryDeadLetterStore(), log: () => undefined });
  const events = classroomEvents(3000, 11);
  try {
    await appender.append('extension', events.slice(0, 1000));
    await worker.start();
    expect(worker.owned.size).toBe(P);
    const committed = async () => (await leases(feed, pipeline.name, P)).reduce((s, p) => s + p.committed, 0);
    await until('the first 1,000 events committed', async () => (await committed()) === 1000, 60_000);
    if (quietCheck) {
      // Idle: every partition waits in XREAD BLOCK. What clients send (MONITOR; script-internal commands are
      // marked 'lua'): no cur.end reads, and a few blocking XREADs.
      const monitor = await feed.redis.duplicate().monitor();
      const sent: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua') sent.push(args.map((a) => a.toLowerCase()));
      });
      await new Promise((r) => setTimeout(r, 2500));
      monitor.disconnect();
      expect(sent.filter((a) => a[0] === 'hget' && a[2] === 'end')).toEqual([]);
      const xreads = sent.filter((a) => a[0] === 'xread');
      expect(xreads.length).toBeGreaterThan(0);
      expect(xreads.length).toBeLessThanOrEqual(P * 5); // BLOCK 1000 ms: ~2-3 per partition in 2.5 s
      expect(xreads.every((a) => a.includes('block'))).toBe(true);
    }
    // Appended while the worker is idle, in two waves: each is picked up without any other nudge.
    await appender.append('extension', events.slice(1000, 2000));
    await until('the second wave committed', async () => (await committed()) === 2000, 60_000);
    await appender.append('extension', events.slice(2000));
    await until('the third wave committed', async () => (await committed()) === 3000, 60_000);
    expect(await partitionedStates(store, pipeline.name, P)).toEqual(await oracle(single, events));
  } finally {
    await worker.stop();
    await appender.close();
    await store.close();
    await feed.close();
  }
}

describe('LogWaiter: an idle worker follows its partitions with a blocking read', () => {
  it('one Redis: appended events are picked up, and idle partitions send no cur.end reads', async () => {
    const redis = await startRedis();
    try {
      await idleWorkerPicksUp(redis.url, true);
    } finally {
      await redis.stop();
    }
  }, 120_000);

  it('3-node Redis Cluster: appended events are picked up (one blocking connection per owned partition)', async () => {
    await idleWorkerPicksUp(inject('redisClusterUrl'), false);
  }, 120_000);
});
