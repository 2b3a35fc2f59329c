// Checkpoint overhead: the same pre-parsed events through the engine with each durability setup, against
// the engine with nothing durable (in-memory log and state) in the same run. Each setup runs on its own
// throwaway servers (redis-server, Postgres from initdb) on free loopback ports.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classroom } from '../engine/classroom.js';
import { compilePipelineFile } from '../engine/compiler.js';
import { DbosBatchRunner } from '../engine/checkpoint/dbos-runner.js';
import { FileInputLog } from '../engine/log/file-log.js';
import { PostgresInputLog } from '../engine/log/postgres-log.js';
import { packageRoot } from '../engine/paths.js';
import { Engine, type EngineOptions } from '../engine/runtime.js';
import { RedisStateStore } from '../engine/state/redis-store.js';
import type { CompiledPipeline, LoEvent } from '../engine/types.js';
import { startPostgres, startRedis } from './servers.js';
import type { Ctx } from './workloads.js';

/** Events/s through a fresh engine: ingest in HTTP-sized batches, then wait until all is committed. */
async function rate(pipeline: CompiledPipeline, events: LoEvent[], options: EngineOptions, batch: number): Promise<{ rate: number; batches: number }> {
  const engine = new Engine(pipeline, { queueLimit: 50_000, ...options });
  await engine.start();
  const t = performance.now();
  // Several senders at once, as a server has: appends that meet are group-committed.
  const senders = 8;
  let next = 0;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      for (;;) {
        const i = next;
        next += batch;
        if (i >= events.length) return;
        await engine.ingest('batch', events.slice(i, i + batch));
      }
    }),
  );
  await engine.flush();
  const r = events.length / ((performance.now() - t) / 1000);
  const batches = engine.stats().batches;
  await engine.stop();
  return { rate: r, batches };
}

export const checkpoint = {
  name: 'checkpoint',
  async run(ctx: Ctx) {
    const { pipeline } = await compilePipelineFile(join(packageRoot, 'pipelines/writing-observer.yaml'));
    const n = ctx.quick ? 20_000 : Number(process.env.LOFLOW_BENCH_CHECKPOINT_EVENTS ?? 200_000);
    const events = [...new Classroom({ students: 1000, seed: 11 }).events(n)].map((e) => e.event as LoEvent);
    const named = (s: string) => ({ ...pipeline!, name: `bench-${s}-${Date.now()}` });
    const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    try {
      await rate(named('warm-up'), events.slice(0, 20_000), {}, 500); // JIT warm-up, not reported
      for (const batch of [100, 1000]) {
        const base = await rate(named('mem'), events, {}, batch);
        ctx.figures.push({ workload: 'checkpoint', name: `engine, in-memory log and state (nothing durable), ${batch}-event ingest batches`, value: base.rate, unit: 'events/s' });
        // Each setup gets the pipeline name it runs under (the Postgres log is per pipeline).
        const setups: Array<[string, (name: string) => Promise<EngineOptions>]> = [
          ['Redis state, no checkpoint', async () => ({ store: await RedisStateStore.connect(redis.url) })],
          ['Redis state + file log (fsync per append)', async () => ({ store: await RedisStateStore.connect(redis.url), log: new FileInputLog(mkdtempSync(join(tmpdir(), 'loflow-bench-log-'))) })],
          [
            'Redis state + Postgres log + DBOS batch workflows',
            async (name) => ({ store: await RedisStateStore.connect(redis.url), log: await PostgresInputLog.open(postgres.url, name), runner: new DbosBatchRunner(postgres.url) }),
          ],
        ];
        for (const [label, make] of setups) {
          const p = named('x');
          const r = await rate(p, events, await make(p.name), batch);
          ctx.figures.push({
            workload: 'checkpoint',
            name: `${label}, ${batch}-event ingest batches (${r.batches} micro-batches)`,
            value: r.rate,
            unit: 'events/s',
            baseline: base.rate,
            ratio: r.rate / base.rate,
            note: 'overhead = 1 - ratio',
          });
          ctx.log(`checkpoint: ${label}, batch ${batch}: ${Math.round(r.rate)} ev/s (${(r.rate / base.rate).toFixed(2)} of nothing-durable)`);
        }
      }
    } finally {
      await Promise.all([redis.stop(), postgres.stop()]);
    }
  },
};
