// Recovery: `loflow serve` with a durable checkpoint (by default the file input log plus Redis state) is
// loaded flat out, SIGKILLed with a backlog of accepted-but-unprocessed events, and restarted; we time the
// restart until it is caught up (every event the log holds processed and committed, per /healthz) and check
// that the log kept every acknowledged event. The checkpoint mode is a parameter: `loflow bench --checkpoint
// URL` adds a run with `serve --checkpoint URL` (the DBOS/Postgres mode) next to the file log.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { demoFile } from './fixtures.js';
import { HttpLoad } from './http-load.js';
import { health, startServe } from './serve-child.js';
import { freePort, startPostgres, startRedis } from './servers.js';
import type { Ctx } from './types.js';

export interface CheckpointMode {
  name: string;
  /** serve's arguments for this mode, given a fresh folder and a fresh Redis. */
  args(dir: string, redisUrl: string): string[];
  /** The offset committed with the states, read while the server is down (unknown: undefined). */
  committed?(redisPort: number): number;
}

export const fileLogMode: CheckpointMode = {
  name: 'file log + Redis state',
  args: (dir, redis) => ['--log', join(dir, 'log'), '--state', redis],
  // Key layout 2 keeps the committed offset in the hash lf:{<pipeline>}:cur (field in).
  committed: (port) => Number(execFileSync('redis-cli', ['-p', String(port), 'hget', 'lf:{writing-observer}:cur', 'in'], { encoding: 'utf8' }).trim() || 0),
};

/** The input log as a Redis Stream beside the states (`--checkpoint redis`). The bench's Redis keeps no AOF and
 * only loflow is killed, so durability none is what it measures (an AOF adds little CPU: docs/scale-out.md §12). */
export const redisLogMode: CheckpointMode = {
  name: 'Redis Stream log + Redis state',
  args: (_dir, redis) => ['--checkpoint', 'redis', '--durability', 'none', '--state', redis],
  committed: fileLogMode.committed,
};

/** The production checkpoint: a throwaway Postgres (a fresh database per run) with DBOS, Redis state. */
export function postgresMode(postgresUrl: string): CheckpointMode {
  return {
    name: 'Postgres log + DBOS workflows + Redis state',
    args: (dir, redis) => {
      const db = `recovery_${dir.replace(/\W/g, '_').slice(-12).toLowerCase()}`;
      execFileSync('psql', [postgresUrl, '-q', '-c', `CREATE DATABASE ${db}`]);
      return ['--checkpoint', postgresUrl.replace(/\/[^/]*$/, `/${db}`), '--state', redis];
    },
    committed: fileLogMode.committed,
  };
}

export function checkpointMode(url: string): CheckpointMode {
  return { name: `checkpoint ${url.replace(/\/\/[^@/]*@/, '//')}`, args: () => ['--checkpoint', url] };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RecoveryRun {
  /** Accepted-but-unprocessed events just before the kill. */
  backlog: number;
  /** Events the restart processed: the log's end minus the offset committed before the kill. */
  replayed: number | undefined;
  acknowledged: number;
  logEnd: number;
  /** ms from spawn to the server answering, and to caught up. */
  liveMs: number;
  caughtUpMs: number;
}

export async function recoverOnce(mode: CheckpointMode, loadSeconds: number, parent: string): Promise<RecoveryRun> {
  const dir = mkdtempSync(join(parent, 'recovery-'));
  const redis = await startRedis();
  const keys = Array.from({ length: 32 }, (_, i) => `bench-key-${i}`);
  const env = { LOFLOW_API_KEYS: keys.join(',') };
  const args = [...mode.args(dir, redis.url), '--data', join(dir, 'data')];
  const port = await freePort();
  const users = Array.from({ length: 200 }, (_, i) => `s-${String(i).padStart(4, '0')}`);
  try {
    const first = await startServe(demoFile, port, args, env);
    const load = new HttpLoad(`${first.url}/v1/events`, users, keys);
    const running = load.run(Infinity, loadSeconds + 60);
    await sleep(loadSeconds * 1000);
    const before = await health(first.url);
    await first.kill('SIGKILL');
    load.stop();
    await running;
    load.close();
    // What the restart has to replay: the log's events past the offset committed with the states.
    const committed = mode.committed?.(redis.port);
    const t0 = performance.now();
    const second = await startServe(demoFile, port, args, env);
    let h = await health(second.url);
    while (h.committed_offset < h.log_end) {
      await sleep(5);
      h = await health(second.url);
    }
    const caughtUpMs = performance.now() - t0;
    await second.kill('SIGTERM');
    return { backlog: before.queue_depth, replayed: committed === undefined ? undefined : h.log_end - committed, acknowledged: load.accepted, logEnd: h.log_end, liveMs: second.startMs, caughtUpMs };
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const recovery = {
  name: 'recovery',
  async run(ctx: Ctx) {
    const postgres = await startPostgres();
    const modes = [fileLogMode, redisLogMode, postgresMode(postgres.url), ...(ctx.checkpoints ?? []).map(checkpointMode)];
    const reps = ctx.quick ? 1 : 3;
    try {
    for (const mode of modes) {
      const runs: RecoveryRun[] = [];
      for (let i = 0; i < reps; i++) {
        const r = await recoverOnce(mode, ctx.quick ? 2 : 4, ctx.dir);
        if (r.logEnd < r.acknowledged) throw new Error(`${mode.name}: after the restart the log holds ${r.logEnd} events but ${r.acknowledged} were acknowledged before the kill: acknowledged events were lost (is the mode durable, and does \`serve\` know its options?)`);
        runs.push(r);
        ctx.log(`recovery (${mode.name}): backlog ${r.backlog}, replayed ${r.replayed}, live after ${Math.round(r.liveMs)} ms, caught up after ${Math.round(r.caughtUpMs)} ms`);
      }
      const worst = runs.reduce((a, b) => (b.caughtUpMs > a.caughtUpMs ? b : a));
      ctx.figures.push({
        workload: 'recovery',
        name: `restart to caught up after SIGKILL under load (${mode.name}; demo pipeline; worst of ${reps})`,
        value: worst.caughtUpMs,
        unit: 'ms',
        goal: '< 2000 ms',
        met: worst.caughtUpMs < 2000,
        note: `${worst.replayed?.toLocaleString('en') ?? 'an unknown number of'} events replayed (backlog at the kill ${worst.backlog.toLocaleString('en')}); live (answering) after ${Math.round(worst.liveMs)} ms; ${worst.acknowledged.toLocaleString('en')} events acknowledged, ${worst.logEnd.toLocaleString('en')} in the log, none lost; all runs: ${runs.map((r) => Math.round(r.caughtUpMs)).join(', ')} ms`,
      });
    }
    } finally {
      await postgres.stop();
    }
  },
};
