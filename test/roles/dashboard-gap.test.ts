// A dashboard node that falls behind its partitions' change streams (docs/scale-out.md §7). commit.lua caps
// each chg stream (MAXLEN ~ 1,000) and numbers its entries; a node that reads after the cap trimmed entries
// it had not seen must notice the skipped numbers and re-read the partition whole, not keep showing the
// states those entries named as they were. Real Redis, a real engine committing, a real dashboard node; the
// node is held back by taking its partition's lock while 1,100+ commits go by.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../bench/servers.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { Engine } from '../../engine/runtime.js';
import type { RemoteQuery } from '../../engine/runtime/remote-query.js';
import { DashboardNode } from '../../engine/server/roles/dashboard-node.js';
import { chgKey, partitionTag } from '../../engine/state/key-layout.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, demoCopy, uniqueName } from '../cli/cluster-fixture.js';
import { until } from '../hardening/serve-child.js';

const userOf = (e: { auth?: { user_id?: string } }) => e.auth?.user_id;

describe('dashboard node behind its change stream', () => {
  let redis: RunningRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('re-reads a partition whose chg entries were trimmed before it read them, and counts it', async () => {
    const name = uniqueName('gap');
    const { pipeline } = await compilePipelineFile(demoCopy(name));
    const store = await RedisStateStore.connect(redis.url);
    const readStore = await RedisStateStore.connect(redis.url);
    const engine = new Engine(pipeline!, { store });
    let node: DashboardNode | undefined;
    let release = () => {};
    try {
      const events = classroomEvents(30_000, 21);
      await engine.ingest('batch', events.slice(0, 300));
      await engine.flush();
      node = await DashboardNode.open(pipeline!, readStore, new MemoryDeadLetterStore());
      const rowsOf = (g: string, q: { aggregate(a: string, g: string): unknown }) => JSON.stringify(q.aggregate('class_overview', g));
      for (const g of ['class-a', 'class-b']) {
        await node.ensureLoaded('class_overview', g);
        expect(rowsOf(g, node)).toBe(rowsOf(g, engine));
      }
      // Hold the node's partition: its change feed stops in the middle of a round, as a slow node would.
      const remote = (node as unknown as { remote: RemoteQuery }).remote;
      void remote.tasks[0].consumer.exclusive(() => new Promise<void>((r) => (release = r)));
      // Many students change, in a few commits...
      for (let i = 300; i < 600; i += 30) {
        await engine.ingest('batch', events.slice(i, i + 30));
        await engine.flush();
      }
      // ...then more commits than the cap keeps, all of one student: the entries naming the others are trimmed.
      const one = userOf(events[600] as never);
      const tail = events.slice(600).filter((e) => userOf(e as never) === one).slice(0, 1_150);
      expect(tail.length).toBe(1_150);
      for (const e of tail) {
        await engine.ingest('batch', [e]);
        await engine.flush();
      }
      const chg = chgKey(partitionTag(pipeline!.name, 0, 1));
      expect(await readStore.redis.xlen(chg)).toBeLessThan(1_160); // 1,161 commits: the first ones' entries are gone
      const differs = ['class-a', 'class-b'].some((g) => rowsOf(g, node!) !== rowsOf(g, engine));
      expect(differs).toBe(true); // held back, the node still shows the old tables
      release();
      for (const g of ['class-a', 'class-b']) await until(() => rowsOf(g, node!) === rowsOf(g, engine), 30_000);
      expect(node.stats().resnapshots).toBeGreaterThan(0);
      expect(node.clock()).toBe(engine.clock());
      // A node that keeps up sees consecutive numbers: no further re-read.
      const before = node.stats().resnapshots;
      const after = events.indexOf(tail[tail.length - 1]) + 1;
      for (const e of events.slice(after, after + 60)) {
        await engine.ingest('batch', [e]);
        await engine.flush();
      }
      for (const g of ['class-a', 'class-b']) await until(() => rowsOf(g, node!) === rowsOf(g, engine), 30_000);
      expect(node.stats().resnapshots).toBe(before);
    } finally {
      release();
      await node?.stop();
      await readStore.close();
      await engine.stop();
    }
  }, 120_000);
});
