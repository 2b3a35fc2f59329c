// Shared by the worker tests (docs/scale-out.md §11 T2-T4): the demo pipeline partitioned (without its
// archive unless asked: T10 has its own test), `loflow serve --role worker` children, an appender on the
// Redis log's own append path, the oracle (an uninterrupted single-process in-memory run) and readers of the
// leases and cursors in Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classroom } from '../../engine/classroom.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { partitionStoreName } from '../../engine/partition.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import type { RedisStateStore } from '../../engine/state/redis-store.js';
import type { CompiledPipeline, LoEvent, StateStore } from '../../engine/types.js';
import { serveChild, type ServeChild } from '../hardening/serve-child.js';

const root = join(import.meta.dirname, '../..');

/** The demo pipeline named `name`, on `count` partitions, without its archive section (with one committing every 1 s when `archive`); and its P = 1 twin. */
export async function partitionedDemo(name: string, count: number, opts: { archive?: boolean } = {}): Promise<{ dir: string; file: string; pipeline: CompiledPipeline; single: CompiledPipeline }> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-workers-'));
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const text = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8')
    .replace('pipeline: writing-observer', `pipeline: ${name}`)
    .replace(/^archive:\n(?:[ \t]+.*\n?)*/m, opts.archive ? 'archive:\n  raw: true\n  derived: [burst]\n  commit_every: 1s\n' : '');
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, `${text}\npartitions: { count: ${count} }\n`);
  writeFileSync(join(dir, 'single.yaml'), text);
  const [{ pipeline }, { pipeline: single }] = await Promise.all([compilePipelineFile(file), compilePipelineFile(join(dir, 'single.yaml'))]);
  if (!pipeline || !single) throw new Error('demo pipeline did not compile');
  return { dir, file, pipeline, single };
}

export const classroomEvents = (n: number, seed: number, students = 60) => [...new Classroom({ students, seed }).events(n)].map((e) => e.event as LoEvent);

export interface WorkerChild {
  child: ChildProcess;
  id: string;
  url: string;
  /** Everything it printed so far. */
  out(): string;
  alive(): boolean;
}

/**
 * Start `loflow serve --role worker` (`--durability none` unless told); resolves once it prints its 'live at' line. A worker whose test hook
 * kills it (LOFLOW_TEST_KILL_AT_*) may do so before that line (its first round already works on partitions):
 * then it resolves as a dead worker, since the kill is what such a test waits for.
 */
export function startWorker(file: string, stateUrl: string, dataDir: string, env: Record<string, string> = {}, durability = 'none'): Promise<WorkerChild> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', file, '--role', 'worker', '--state', stateUrl, '--durability', durability, '--port', '0', '--data', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOFLOW_REDIS_TIMEOUT_MS: '10000', ...env },
    });
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = /worker (\S+) of '[^']+' live at (\S+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (x: Buffer) => (out += x));
        resolve({ child, id: m[1], url: m[2], out: () => out, alive: () => child.exitCode === null && child.signalCode === null });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d));
    const hooked = Object.keys(env).some((k) => k.startsWith('LOFLOW_TEST_KILL_AT_'));
    child.once('exit', (code, sig) => {
      if (hooked && sig === 'SIGKILL') resolve({ child, id: '(killed by its test hook before it was live)', url: '', out: () => out, alive: () => false });
      else reject(new Error(`worker exited before it was live (${code ?? sig}): ${out}`));
    });
  });
}

export async function signal(w: WorkerChild, sig: NodeJS.Signals): Promise<void> {
  if (!w.alive()) return;
  const exited = new Promise((r) => w.child.once('exit', r));
  w.child.kill(sig);
  if (sig === 'SIGKILL' || sig === 'SIGTERM') await exited;
}

export async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 60_000, every = 100): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Per partition: the lease owner when held (not expired or released, by Redis TIME), and the committed cursor and log end. */
export async function leases(store: RedisStateStore, name: string, count: number): Promise<Array<{ owner: string | null; epoch: number; committed: number; end: number }>> {
  const [sec, micros] = (await store.redis.time()) as unknown as [string, string];
  const now = Number(sec) * 1000 + Math.floor(Number(micros) / 1000);
  return Promise.all(
    Array.from({ length: count }, async (_, n) => {
      const tag = partitionStoreName(name, n, count);
      const [lease, cur] = await Promise.all([store.redis.hgetall(`lf:{${tag}}:lease`), store.redis.hgetall(`lf:{${tag}}:cur`)]);
      const held = lease.owner && Number(lease.until) > now ? lease.owner : null;
      return { owner: held, epoch: Number(lease.epoch ?? 0), committed: Number(cur.in ?? 0), end: Number(cur.end ?? 0) };
    }),
  );
}

/** What each worker says it holds (/healthz). */
export async function holdings(w: WorkerChild): Promise<number[]> {
  const h = (await (await fetch(`${w.url}/healthz`)).json()) as { partitions: Array<{ partition: number }> };
  return h.partitions.map((p) => p.partition).sort((a, b) => a - b);
}

async function snapshot(store: StateStore, names: string[]) {
  const out: Record<string, unknown> = {};
  for (const name of names) for await (const [ref, state] of store.scan(name)) out[`${ref.reducer}/${ref.version}/${ref.key}`] = state;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

/** The states of every partition in Redis, keyed without the partition (comparable with the oracle's). */
export const partitionedStates = (store: StateStore, name: string, count: number) =>
  snapshot(store, Array.from({ length: count }, (_, n) => partitionStoreName(name, n, count)));

/** An uninterrupted single-process in-memory run of the same events, in the same order: the oracle. */
export async function oracle(single: CompiledPipeline, events: LoEvent[]): Promise<Record<string, unknown>> {
  const memory = new MemoryStateStore();
  const engine = new Engine(single, { store: memory });
  for (let i = 0; i < events.length; i += 500) await engine.ingest('extension', structuredClone(events.slice(i, i + 500)));
  await engine.flush();
  const states = await snapshot(memory, [single.name]);
  await engine.stop();
  return states;
}

/** The port of the live primary serving `slot` in a `CLUSTER NODES` answer (fields: id addr flags master … slots). */
export function servedBy(nodes: string, slot: number): number | null {
  for (const line of nodes.split('\n')) {
    const f = line.split(' ');
    if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
    const serves = f.slice(8).some((r) => {
      const [a, b] = r.split('-').map(Number);
      return slot >= a && slot <= (b ?? a);
    });
    if (serves) return Number(/:(\d+)@/.exec(f[1])![1]);
  }
  return null;
}

/**
 * The failover and split tests' processes: two workers and an ingest node on `url` with `durability` (a Redis
 * command timeout of 5 s, so that a failover's pause is waited out, not failed). `stop` SIGKILLs the workers
 * and stops the ingest node, whatever of them started.
 */
export function failoverRoles(file: string, url: string, durability: string) {
  const data = mkdtempSync(join(tmpdir(), 'loflow-roles-'));
  const env = { LOFLOW_REDIS_TIMEOUT_MS: '5000' };
  const started: { workers: WorkerChild[]; ingest?: ServeChild } = { workers: [] };
  return {
    async start(): Promise<{ workers: WorkerChild[]; ingest: ServeChild }> {
      started.workers.push(...(await Promise.all([startWorker(file, url, data, env, durability), startWorker(file, url, data, env, durability)])));
      started.ingest = await serveChild(['--role', 'ingest', '--state', url, '--durability', durability], env, file);
      return { workers: started.workers, ingest: started.ingest };
    },
    async stop(): Promise<void> {
      for (const w of started.workers) await signal(w, 'SIGKILL');
      await started.ingest?.stop();
    },
  };
}
