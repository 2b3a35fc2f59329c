// Pick the checkpoint (durable input log + batch runner) from a URL:
//   none                    -> in-memory log: accepted-but-unprocessed events die with the process
//   postgres://...          -> Postgres input log + DBOS durable batch workflows (the production setup)
//   file:DIR, or a folder   -> loflow's own fsync'ed NDJSON log in DIR (embedded, no server needed)
//   redis                   -> a Redis Stream in the state store's Redis, beside the states and the cursor
//                              (needs a Redis state store; `durability` says what Redis must persist)
// Not offered: DBOS on PGlite through pglite-socket. It runs, but pglite-socket multiplexes every client
// connection onto PGlite's one session, so one client's transaction swallows another's statements; our
// SIGKILL test lost acknowledged events that way. The embedded durable choice is the file log.
import { resolve } from 'node:path';
import { FileInputLog } from '../log/file-log.js';
import { partitionStoreName } from '../partition.js';
import { parseDurability } from '../state/durability.js';
import type { BatchRunner, InputLog, StateStore } from '../types.js';

export interface Checkpoint {
  log?: InputLog;
  /** With P > 1 partitions and a Redis log: one log per partition (lf:{<pl>:p<N>}:in), in partition order. */
  logs?: InputLog[];
  runner?: BatchRunner;
  describe: string;
}

export async function openCheckpoint(spec: string | undefined, pipeline: string, store?: StateStore, durability?: string, partitions = 1): Promise<Checkpoint> {
  if (!spec || spec === 'memory') return { describe: 'none (in-memory input log)' };
  if (spec === 'redis') return onRedis(store, pipeline, durability, partitions);
  if (/^postgres(ql)?:\/\//.test(spec)) {
    try {
      return { ...(await onPostgres(spec, pipeline)), describe: `Postgres + DBOS workflows (${redact(spec)})` };
    } catch (err) {
      // Said in one line with the (redacted) URL: a missing database or a refused connection is a setup error.
      throw new Error(`cannot open the Postgres checkpoint ${redact(spec)}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const dir = resolve(spec.startsWith('file:') ? spec.slice(5) : spec);
  // A segment's size in events (README "Checkpoints"): small ones let tests cross segments with few events.
  const segmentEvents = Number(process.env.LOFLOW_LOG_SEGMENT_EVENTS ?? 50_000);
  if (!(Number.isInteger(segmentEvents) && segmentEvents > 0)) throw new Error(`LOFLOW_LOG_SEGMENT_EVENTS must be a positive whole number of events, not '${process.env.LOFLOW_LOG_SEGMENT_EVENTS}'`);
  return { log: new FileInputLog(dir, segmentEvents), describe: `file log ${dir}` };
}

async function onRedis(store: StateStore | undefined, pipeline: string, durability: string | undefined, partitions: number): Promise<Checkpoint> {
  const mode = parseDurability(durability);
  // The log's point is its slot: the cursor and states beside it. A log in a Redis without them would not be.
  if (!store || !store.kind.startsWith('redis')) throw new Error(`--checkpoint redis keeps the input log beside the states: it needs --state redis://... or redis-cluster://... (the state store is ${store?.kind ?? 'memory'})`);
  const { RedisInputLog } = await import('../log/redis-log.js');
  const redisStore = store as import('../state/redis-store.js').RedisStateStore;
  const { log, note } = await RedisInputLog.open(redisStore.redis, partitionStoreName(pipeline, 0, partitions), mode);
  redisStore.durability = mode;
  if (note) console.warn(`loflow: ${note}`);
  if (partitions === 1) return { log, describe: `Redis Stream lf:{${pipeline}}:in (durability ${mode})` };
  // P > 1: each partition's own stream and cursor, beside its states (the durability was checked once above).
  const rest = await Promise.all(Array.from({ length: partitions - 1 }, (_, i) => RedisInputLog.attach(redisStore.redis, partitionStoreName(pipeline, i + 1, partitions), mode)));
  return { logs: [log, ...rest], describe: `Redis Streams lf:{${pipeline}:p0..p${partitions - 1}}:in (durability ${mode})` };
}

async function onPostgres(url: string, pipeline: string): Promise<{ log: InputLog; runner: BatchRunner }> {
  // Loaded only when asked for: DBOS and pg are not needed without a Postgres checkpoint.
  const [{ PostgresInputLog }, { DbosBatchRunner }] = await Promise.all([import('../log/postgres-log.js'), import('./dbos-runner.js')]);
  return { log: await PostgresInputLog.open(url, pipeline), runner: new DbosBatchRunner(url) };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
