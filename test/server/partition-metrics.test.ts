// Per-partition metrics (docs/scale-out.md §14 step 5): loflow_partition_lag_events, loflow_partition_epoch,
// loflow_partition_commits_total{partition,result} and loflow_lease_renew_failures_total, read from the
// engine's tasks on scrape. P = 4 in one process: one series per partition whose commits add up to the
// engine's; a served pipeline on a throwaway Redis: epoch 1 and its commits; Redis killed under the server:
// the failed lease renewals are counted.
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../engine/partition.js';
import { Engine } from '../../engine/runtime.js';
import { createMetrics } from '../../engine/server/metrics.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { startRedis } from '../../bench/servers.js';
import { classroomEvents, demoCopy, feedAndDrain, uniqueName } from '../cli/cluster-fixture.js';
import { serveChild, until } from '../hardening/serve-child.js';
import { demoWithPartitions } from '../runtime/partitioned-demo.js';

const series = (text: string, name: string) =>
  [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))].map((m) => ({ labels: Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]])), value: Number(m[2]) }));
const single = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('per-partition metrics', () => {
  it('P = 4 in one process: lag and commits per partition, adding up to the engine totals; no epoch without leases', async () => {
    const engine = new Engine(await demoWithPartitions(4), { batchSize: 64 });
    const events = classroomEvents(600, 21);
    await engine.ingest('batch', structuredClone(events));
    await engine.flush();
    const text = await createMetrics(engine).registry.metrics();
    const commits = series(text, 'loflow_partition_commits_total');
    expect(new Set(commits.map((c) => c.labels.partition))).toEqual(new Set(['0', '1', '2', '3']));
    expect(new Set(commits.map((c) => c.labels.result))).toEqual(new Set(['ok', 'done', 'fenced', 'conflict']));
    const ok = (p: string) => commits.find((c) => c.labels.partition === p && c.labels.result === 'ok')!.value;
    for (const p of ['0', '1', '2', '3']) {
      // Each partition committed its own events in batches of at most 64.
      const own = events.filter((e) => partitionOf((e as any).auth.user_id, 4) === Number(p)).length;
      expect(ok(p)).toBeGreaterThanOrEqual(Math.ceil(own / 64));
    }
    const total = series(text, 'loflow_commits_total').find((c) => c.labels.result === 'ok')!.value;
    expect(ok('0') + ok('1') + ok('2') + ok('3')).toBe(total);
    expect(series(text, 'loflow_partition_lag_events').map((s) => [s.labels.partition, s.value])).toEqual([['0', 0], ['1', 0], ['2', 0], ['3', 0]]);
    expect(series(text, 'loflow_partition_epoch')).toEqual([]);
    expect(single(text, 'loflow_lease_renew_failures_total')).toBe(0);
    await engine.stop();
  });

  it('lag in seconds: 0 when caught up, then the age of the oldest event the partition cannot commit', async () => {
    const redis = await startRedis();
    let redisUp = true;
    const store = await RedisStateStore.connect(redis.url);
    const engine = new Engine(await demoWithPartitions(2), { store, batchSize: 64 });
    try {
      const events = classroomEvents(400, 22);
      await engine.ingest('batch', structuredClone(events.slice(0, 200)));
      await engine.flush();
      const metrics = createMetrics(engine).registry;
      expect(series(await metrics.metrics(), 'loflow_partition_lag_seconds').map((s) => [s.labels.partition, s.value])).toEqual([['0', 0], ['1', 0]]);
      redisUp = false;
      await redis.stop(); // commits fail from now on: the events wait in the log
      const t0 = Date.now();
      await engine.ingest('batch', structuredClone(events.slice(200)));
      await new Promise((r) => setTimeout(r, 1500));
      const text = await metrics.metrics();
      const lagEvents = series(text, 'loflow_partition_lag_events');
      expect(lagEvents.reduce((a, s) => a + s.value, 0)).toBe(200);
      for (const s of series(text, 'loflow_partition_lag_seconds')) {
        expect(s.value).toBeGreaterThanOrEqual(1.4);
        expect(s.value).toBeLessThanOrEqual((Date.now() - t0) / 1000 + 0.1);
      }
    } finally {
      engine.abort();
      await store.close().catch(() => undefined);
      if (redisUp) await redis.stop();
    }
  }, 60_000);

  it('served on Redis: epoch and commits of partition 0, then failed lease renewals counted while Redis is down', async () => {
    const redis = await startRedis();
    let redisUp = true;
    const file = demoCopy(uniqueName('pm'));
    // A short lease: renewals every 200 ms.
    const s = await serveChild(['--state', redis.url, '--checkpoint', 'redis', '--durability', 'none'], { LOFLOW_LEASE_MS: '600' }, file);
    try {
      await feedAndDrain(s, classroomEvents(200, 4));
      const text = await s.metrics();
      expect(series(text, 'loflow_partition_epoch')).toEqual([{ labels: { partition: '0' }, value: 1 }]);
      expect(series(text, 'loflow_partition_lag_events')).toEqual([{ labels: { partition: '0' }, value: 0 }]);
      const okCommits = series(text, 'loflow_partition_commits_total').find((c) => c.labels.result === 'ok' && c.labels.partition === '0')!.value;
      expect(okCommits).toBeGreaterThanOrEqual(1);
      expect(okCommits).toBe(series(text, 'loflow_commits_total').find((c) => c.labels.result === 'ok')!.value);
      expect(single(text, 'loflow_lease_renew_failures_total')).toBe(0);

      redisUp = false;
      await redis.stop(); // SIGKILL: every renewal from now on fails
      const failures = await until(async () => {
        const n = single(await s.metrics(), 'loflow_lease_renew_failures_total');
        return n >= 2 ? n : false;
      }, 30_000);
      expect(failures).toBeGreaterThanOrEqual(2);
    } finally {
      await s.stop();
      if (redisUp) await redis.stop();
    }
  }, 120_000);
});
