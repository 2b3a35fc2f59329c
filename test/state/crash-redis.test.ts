// The crash test (crash.test.ts's pattern) with the input log in Redis (`serve --checkpoint redis`, durability
// local: a throwaway redis-server with AOF everysec): an at-least-once client feeds 6,000 events over HTTP;
// at 3 seeded random points the server is SIGKILLed while a request is in flight (and at 1 more, redis-server
// itself, restarted on its data folder); the server restarts each time, waiting out the dead one's lease.
// The final states must equal an uninterrupted in-memory run: no event lost, none counted twice; the log's
// entry ids are dense (nothing appended twice) and it was trimmed only below the committed cursor.
import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Classroom, rng } from '../../engine/classroom.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { StateStore } from '../../engine/types.js';
import { freePort, startRedis, type RunningRedis } from '../../bench/servers.js';
import { postBatch, sendUntilAcked, waitCommitted } from './crash-client.js';

const root = join(import.meta.dirname, '../..');
const EVENTS = 6_000;
const BATCH = 500;
const SERVER_KILLS = 3;
const REDIS_KILLS = 1;

async function snapshot(store: StateStore, pipeline: string) {
  const out: Record<string, unknown> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.version}/${ref.key}`] = state;
  return JSON.parse(JSON.stringify(out));
}

describe('crash recovery (SIGKILL), checkpoint: Redis Stream (durability local)', () => {
  it(`loses nothing and counts nothing twice across ${SERVER_KILLS} server and ${REDIS_KILLS} Redis kills`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-crash-redis-'));
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `crashr${Date.now()}`;
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`));
    const events = [...new Classroom({ students: 100, seed: 43 }).events(EVENTS)].map((e) => e.event);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // The AOF in memory when the machine has /dev/shm: a SIGKILLed process loses nothing the kernel holds, on
    // disk or not (what this test is about), and a disk busy with other suites' fsyncs stalls Redis for seconds.
    const dataRoot = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const redisOpts = { dir: mkdtempSync(join(dataRoot, 'loflow-crash-redis-data-')), args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] };
    let redis: RunningRedis = await startRedis(redisOpts);

    let child: ChildProcess;
    const startMs: number[] = [];
    const start = () =>
      new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', file, '--port', String(port), '--state', redis.url, '--checkpoint', 'redis', '--data', join(dir, 'data')], {
          stdio: ['ignore', 'pipe', 'inherit'],
          // A short lease: a restart waits at most this long for the killed process's lease to expire.
          env: { ...process.env, LOFLOW_LEASE_MS: '1000', LOFLOW_REDIS_TIMEOUT_MS: '10000' },
        });
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('live at')) {
            startMs.push(Date.now() - t0);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`server exited early (${code}): ${out}`)));
      });
    const kill = async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    };

    const random = rng(11);
    const batches = EVENTS / BATCH;
    const killAt = new Map<number, 'server' | 'redis'>();
    while (killAt.size < SERVER_KILLS) killAt.set(1 + Math.floor(random() * (batches - 1)), 'server');
    while (killAt.size < SERVER_KILLS + REDIS_KILLS) {
      const b = 1 + Math.floor(random() * (batches - 1));
      if (!killAt.has(b)) killAt.set(b, 'redis');
    }

    try {
      await start();
      let resends = 0;
      for (let b = 0; b < batches; b++) {
        const body = JSON.stringify(events.slice(b * BATCH, (b + 1) * BATCH));
        const what = killAt.get(b);
        if (what) {
          // Kill while this batch is in flight (before, during or after its append), then restart.
          const inflight = postBatch(url, body, b * BATCH);
          await new Promise((r) => setTimeout(r, random() * 15));
          if (what === 'server') {
            await kill();
            await inflight;
            await start();
          } else {
            await redis.stop(); // SIGKILL; the data folder stays
            await inflight;
            redis = await startRedis({ ...redisOpts, port: redis.port });
          }
        }
        // At-least-once: send until acknowledged.
        if (await sendUntilAcked(url, body, b * BATCH)) resends++;
      }
      // Wait until everything logged is processed and committed.
      await waitCommitted(url, EVENTS);
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGTERM');
      await exited;

      const raw = new Redis(redis.url);
      const cur = await raw.hgetall(`lf:{${name}}:cur`);
      const info = (await raw.xinfo('STREAM', `lf:{${name}}:in`)) as unknown[];
      const lastId = info[info.indexOf('last-generated-id') + 1];
      const firstEntry = (await raw.xrange(`lf:{${name}}:in`, '-', '+', 'COUNT', 1))[0];
      raw.disconnect();
      expect(cur).toMatchObject({ in: String(EVENTS), end: String(EVENTS) });
      expect(lastId).toBe(`0-${EVENTS}`); // dense ids: every event appended exactly once
      // Trimmed, and only below the committed cursor (the last entries stay until the next trim).
      if (firstEntry) expect(Number(firstEntry[0].slice(2))).toBeLessThanOrEqual(EVENTS);

      const { pipeline } = await compilePipelineFile(file);
      const memory = new MemoryStateStore();
      const engine = new Engine(pipeline!, { store: memory });
      for (let i = 0; i < EVENTS; i += BATCH) await engine.ingest('batch', events.slice(i, i + BATCH));
      await engine.flush();
      const store = await RedisStateStore.connect(redis.url);
      const [got, want] = [await snapshot(store, name), await snapshot(memory, name)];
      await store.close();
      expect(Object.keys(got).length).toBe(Object.keys(want).length);
      expect(got).toEqual(want);
      expect(want[Object.keys(want).find((k) => k.startsWith('events/'))!]).toBeGreaterThan(0);
      console.log(`crash test (Redis Stream log): ${SERVER_KILLS} server kills, ${REDIS_KILLS} Redis kills, ${resends} re-sent batches recognised as duplicates; server starts took ${startMs.join(', ')} ms`);
    } finally {
      if (child! && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await redis.stop();
      rmSync(redisOpts.dir, { recursive: true, force: true });
    }
  }, 240_000);
});
