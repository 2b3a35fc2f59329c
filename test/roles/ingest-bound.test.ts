// The ingest node's bound (issue #12 point 2: "bounded buffers, never an unbounded queue"): with Redis
// frozen, at most maxInFlight accepted events wait for its answer; further requests wait up to their
// maxWaitMs and are refused BACKLOG_FULL (HTTP: 503 + Retry-After), and none is acknowledged.
import { describe, expect, it } from 'vitest';
import { startRedis } from '../../bench/servers.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { IngestNode } from '../../engine/server/roles/ingest-node.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { isBacklogFull, isUnavailable } from '../../engine/unavailable.js';
import { classroomEvents, demoCopy, uniqueName } from '../cli/cluster-fixture.js';

describe('ingest node bound', () => {
  it('holds at most maxInFlight events for a frozen Redis; the rest are refused BACKLOG_FULL, nothing acknowledged', async () => {
    const redis = await startRedis();
    const { pipeline } = await compilePipelineFile(demoCopy(uniqueName('bound')));
    const store = await RedisStateStore.connect(redis.url);
    const node = new IngestNode(pipeline!, store, new MemoryDeadLetterStore(), { redis: store.redis, durability: 'none', maxInFlight: 250 });
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, node.stats().queueDepth)), 5);
    try {
      const events = classroomEvents(1000, 21);
      process.kill(redis.pid, 'SIGSTOP');
      let answers: PromiseSettledResult<unknown>[];
      try {
        answers = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => node.ingest('batch', events.slice(i * 100, i * 100 + 100), Date.now(), undefined, { maxWaitMs: 300 })));
      } finally {
        process.kill(redis.pid, 'SIGCONT');
      }
      expect(answers.every((a) => a.status === 'rejected')).toBe(true);
      const reasons = answers.map((a) => (a as PromiseRejectedResult).reason);
      expect(reasons.filter(isBacklogFull).length, reasons.map((r) => r.message).join("; ")).toBeGreaterThanOrEqual(7);
      expect(reasons.filter((r) => !isBacklogFull(r)).every(isUnavailable)).toBe(true);
      expect(peak).toBeLessThanOrEqual(250);
      expect(node.stats().ingested).toBe(0);
      expect(node.stats().queueDepth).toBe(0);
    } finally {
      clearInterval(watch);
      await node.stop();
      await store.close();
      await redis.stop();
    }
  }, 60_000);
});
