// CPU time a worker spends per event draining a backlog (the demo pipeline on P = 16 partitions, one throwaway
// redis-server), and where it goes (the inspector's CPU profile of this process while only the worker runs:
// the backlog is appended before). Run: npm run build && LOFLOW_LOG_LEVEL=warn node dist/bench/worker-cpu.js [events [profile.cpuprofile]]
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classroom } from '../engine/classroom.js';
import { PartitionAppender } from '../engine/cluster/appender.js';
import { Worker } from '../engine/cluster/worker.js';
import { compilePipelineFile } from '../engine/compiler.js';
import { MemoryDeadLetterStore } from '../engine/deadletter/memory-deadletter.js';
import { packageRoot } from '../engine/paths.js';
import { RedisStateStore } from '../engine/state/redis-store.js';
import type { LoEvent } from '../engine/types.js';
import { profileWhile } from './profile.js';
import { startRedis } from './servers.js';

const n = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'loflow-worker-cpu-'));
const redis = await startRedis({ dir });
try {
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(packageRoot, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const text = readFileSync(join(packageRoot, 'pipelines/writing-observer.yaml'), 'utf8').replace(/^archive:\n(?:[ \t]+.*\n?)*/m, '');
  writeFileSync(join(dir, 'p.yaml'), `${text}\npartitions: { count: 16 }\n`);
  const { pipeline } = await compilePipelineFile(join(dir, 'p.yaml'));
  if (!pipeline) throw new Error('the partitioned demo did not compile');
  const events = [...new Classroom({ students: 400, seed: 9 }).events(n)].map((e) => e.event as LoEvent);
  const feed = await RedisStateStore.connect(redis.url);
  const appender = await PartitionAppender.open(feed.redis, pipeline);
  for (let i = 0; i < n; i += 2000) await appender.append('extension', events.slice(i, i + 2000));
  await appender.close();
  const store = await RedisStateStore.connect(redis.url);
  const worker = new Worker(pipeline, store, { durability: 'none', deadLetters: new MemoryDeadLetterStore(), log: () => undefined, batchSize: Number(process.env.BATCH) || undefined });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const prof = await profileWhile(async () => {
    await worker.start();
    const done = () => [...worker.owned.values()].reduce((s, p) => s + p.committed, 0) >= n;
    while (!done()) await new Promise((r) => setTimeout(r, 20));
  }, 14);
  const wall = (performance.now() - t0) / 1000;
  if (process.argv[3]) writeFileSync(process.argv[3], JSON.stringify(prof.profile));
  const c = process.cpuUsage(c0);
  await worker.stop();
  await store.close();
  await feed.close();
  console.log(`${n} events: ${Math.round(n / wall)} events/s wall, ${Math.round(n / ((c.user + c.system) / 1e6))} events per CPU second`);
  for (const [pct, what] of prof.top) console.log(`  ${pct}%  ${what}`);
  for (const [pct, what] of prof.byArea) console.log(`  ${pct}%  [${what}]`);
} finally {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
