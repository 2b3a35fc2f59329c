// `loflow serve --role ...` (docs/scale-out.md §4): which parts of loflow this process runs. `all` is the
// single process (`npm start`), unchanged; `worker` runs only the partitions it owns (engine/cluster/worker.ts)
// and serves /healthz and /metrics. The ingest and dashboard roles are serve-roles.ts's (nodeRoles).
import { join, resolve } from 'node:path';
import { configuredProvider } from '../../archive/open-crypto.js';
import { checkMeta } from '../cluster/meta.js';
import { Worker } from '../cluster/worker.js';
import { serveWorker } from '../cluster/worker-http.js';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import { checkDurability, parseDurability } from '../state/durability.js';
import type { RedisStateStore } from '../state/redis-store.js';
import { openStateStore } from '../state/open.js';
import type { CompiledPipeline, StateStore } from '../types.js';

export const roles = ['all', 'worker'] as const;
export type Role = (typeof roles)[number];

export function parseRole(value: string | boolean | undefined): { role: Role } | { error: string } {
  if (value === undefined) return { role: 'all' };
  if (typeof value !== 'string') return { error: `--role takes one of ${roles.join(', ')}` };
  if ((roles as readonly string[]).includes(value)) return { role: value as Role };
  return { error: `unknown role '${value}': use all, worker, ingest, dashboard or ingest,dashboard` };
}

/** A Redis store: check the pipeline's partition record (P, routing key) against this file; null when they agree. */
export async function metaProblem(store: StateStore, pipeline: CompiledPipeline): Promise<string | null> {
  if (!store.kind.startsWith('redis')) return null;
  try {
    await checkMeta((store as RedisStateStore).redis, pipeline);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** `serve --role worker`: exit code when stopped (0) or refused (2). */
export async function runWorkerRole(pipeline: CompiledPipeline, options: Record<string, string | boolean>): Promise<number> {
  const refuse = (why: string) => {
    console.error(`loflow serve --role worker: ${why}`);
    return 2;
  };
  const url = typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state);
  if (typeof url !== 'string' || !/^(redis|rediss|redis-cluster):\/\//.test(url)) return refuse(`a worker keeps states, cursors and leases in Redis: give --state redis://host:port or redis-cluster://host:port,... (got ${url ?? 'none'})`);
  const checkpoint = typeof options.checkpoint === 'string' ? options.checkpoint : process.env.LOFLOW_CHECKPOINT;
  if (checkpoint !== undefined && checkpoint !== 'redis') return refuse(`a worker reads the partitions' Redis Streams: --checkpoint must be redis (or left out), not '${checkpoint}'`);
  if (pipeline.archive && (await configuredProvider(typeof options['master-key-file'] === 'string' ? options['master-key-file'] : undefined))) return refuse(`an encrypted archive of a partitioned pipeline is not built yet: run the workers without a master key`);
  if (options.watch === true) return refuse('--watch reloads one process; workers do not take live edits yet (restart them one by one)');
  for (const o of ['reset', 'rebuild', 'rebuild-from']) if (options[o] !== undefined) return refuse(`--${o} changes the whole store: run it once with --role all while no worker runs`);
  let durability;
  try {
    durability = parseDurability(typeof options.durability === 'string' ? options.durability : process.env.LOFLOW_DURABILITY);
  } catch (err) {
    return refuse((err as Error).message);
  }
  const store = (await openStateStore(url)) as RedisStateStore;
  const problem = await metaProblem(store, pipeline);
  if (problem) {
    await store.close();
    return refuse(problem);
  }
  try {
    const note = await checkDurability(store.redis, durability);
    if (note) console.warn(`loflow: ${note}`);
  } catch (err) {
    await store.close();
    return refuse((err as Error).message);
  }
  store.durability = durability;
  const data = resolve(typeof options.data === 'string' ? options.data : '.loflow');
  // The archive folder is shared by every worker (a shared volume: docs/scale-out.md §8).
  const archiveDir = typeof options.archive === 'string' ? resolve(options.archive) : join(data, pipeline.name, 'archive');
  const worker = new Worker(pipeline, store, { durability, deadLetters: new FileDeadLetterStore(join(data, pipeline.name, 'deadletters.ndjson')), ...(pipeline.archive ? { archiveDir } : {}) });
  // Signal handlers first: a supervisor may stop us as soon as it reads the 'live' line.
  const stopped = new Promise<void>((done) => {
    const stop = async () => {
      console.log(`loflow: worker ${worker.id}: stopping: finishing batches, freeing leases`);
      await worker.stop();
      await store.close();
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await worker.start();
  const { server, url: at } = await serveWorker(worker, typeof options.host === 'string' ? options.host : '127.0.0.1', options.port === undefined ? 8080 : Number(options.port));
  const P = pipeline.partitions?.count ?? 1;
  console.log(`loflow: worker ${worker.id} of '${pipeline.name}' live at ${at} (P=${P}, holding ${worker.owned.size}, ${worker.live.length} live worker${worker.live.length === 1 ? '' : 's'}; state: ${store.kind}, durability ${durability})`);
  await stopped;
  server.close();
  return 0;
}
