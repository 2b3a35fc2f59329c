// A dashboard node while its Redis is frozen (issue #12 point 5; F8 of docs/scale-out.md §9 is the node's
// own death): /healthz-level health says so, a class not yet loaded is refused (UNAVAILABLE, the route's
// 503), and after Redis is back the change feed resumes where it stopped: the tables catch up with the
// engine that kept committing, no change missed.
import { describe, expect, it } from 'vitest';
import { startRedis } from '../../bench/servers.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { Engine } from '../../engine/runtime.js';
import { DashboardNode } from '../../engine/server/roles/dashboard-node.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { isUnavailable } from '../../engine/unavailable.js';
import { classroomEvents, demoCopy, uniqueName } from '../cli/cluster-fixture.js';
import { until } from '../hardening/serve-child.js';

describe('dashboard node and a frozen Redis', () => {
  it('reports unhealthy, refuses an unloaded class, then catches up with every change', async () => {
    const redis = await startRedis();
    const { pipeline } = await compilePipelineFile(demoCopy(uniqueName('dashout')));
    const [ws, ds] = await Promise.all([RedisStateStore.connect(redis.url), RedisStateStore.connect(redis.url)]);
    const engine = new Engine(pipeline!, { store: ws });
    const node = await DashboardNode.open(pipeline!, ds, new MemoryDeadLetterStore());
    const table = (e: { aggregate(a: string, g: string): unknown }) => JSON.stringify(e.aggregate('class_overview', 'class-a'));
    try {
      const events = classroomEvents(900, 17);
      await engine.ingest('batch', events.slice(0, 300));
      await engine.flush();
      await node.ensureLoaded('class_overview', 'class-a');
      expect(table(node)).toBe(table(engine));
      process.kill(redis.pid, 'SIGSTOP');
      try {
        expect((await node.checkHealth(500)).ok).toBe(false);
        const refused = await node.ensureLoaded('class_overview', 'class-b').then(() => null, (err: unknown) => err);
        expect(isUnavailable(refused)).toBe(true);
      } finally {
        process.kill(redis.pid, 'SIGCONT');
      }
      // The engine commits more (its retries ride out the freeze); the node follows from where it stopped.
      await engine.ingest('batch', events.slice(300));
      await engine.flush();
      await until(() => table(node) === table(engine), 30_000);
      await node.ensureLoaded('class_overview', 'class-b');
      expect(JSON.stringify(node.aggregate('class_overview', 'class-b'))).toBe(JSON.stringify(engine.aggregate('class_overview', 'class-b')));
      await until(async () => (await node.checkHealth(1000)).ok, 10_000);
    } finally {
      await node.stop();
      await ds.close();
      await engine.stop();
      await redis.stop();
    }
  }, 90_000);
});
