// Retention in the logs kept by servers: the Postgres input log (loflow.events rows), the Redis Stream input
// log (lf:T:in, ids 0-<offset + 1>, arrival in field t) and the Redis dead-letter stream (lf:T:dl, ids by
// Redis time at commit). Each removes only records older than the horizon and, for input logs, below
// `safeBelow` (applied and archived): what is not yet applied is never touched. They work beside a running
// server (its log keeps appending at the end; these delete below its committed offset, as its own
// truncation does) without taking its locks.
import type { Cluster, Redis } from 'ioredis';
import { dlKey, inKey } from '../state/key-layout.js';
import type { LogExpiry } from './file-log.js';

/** Entries per XRANGE / XDEL round trip. */
const SLICE = 2048;

export async function expirePostgresLog(url: string, pipeline: string, before: number, safeBelow: number, dryRun = false): Promise<LogExpiry> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const exists = await client.query<{ t: string | null }>("SELECT to_regclass('loflow.events')::text AS t");
    if (!exists.rows[0].t) return { removed: 0, segments: 0, pending: 0 };
    const where = 'pipeline = $1 AND off < $2 AND at < $3';
    const pending = await client.query<{ n: string }>('SELECT count(*) AS n FROM loflow.events WHERE pipeline = $1 AND off >= $2 AND at < $3', [pipeline, safeBelow, before]);
    const removed = dryRun
      ? Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM loflow.events WHERE ${where}`, [pipeline, safeBelow, before])).rows[0].n)
      : ((await client.query(`DELETE FROM loflow.events WHERE ${where}`, [pipeline, safeBelow, before])).rowCount ?? 0);
    return { removed, segments: 0, pending: Number(pending.rows[0].n) };
  } finally {
    await client.end();
  }
}

/** Entries of a Redis stream in slices, as [id, fields]. */
async function* xrangeAll(redis: Redis | Cluster, key: string, start: string, end: string): AsyncGenerator<[string, string[]]> {
  let from = start;
  for (;;) {
    const rows = (await redis.xrange(key, from, end, 'COUNT', SLICE)) as Array<[string, string[]]>;
    for (const r of rows) yield r;
    if (rows.length < SLICE) return;
    from = `(${rows[rows.length - 1][0]}`;
  }
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

export async function expireRedisLog(redis: Redis | Cluster, tag: string, before: number, safeBelow: number, dryRun = false): Promise<LogExpiry> {
  const out: LogExpiry = { removed: 0, segments: 0, pending: 0 };
  let doomed: string[] = [];
  const flush = async () => {
    if (doomed.length && !dryRun) await redis.xdel(inKey(tag), ...doomed);
    doomed = [];
  };
  // Ids are 0-<offset + 1>: offset < safeBelow is id <= 0-safeBelow.
  for await (const [id, fields] of xrangeAll(redis, inKey(tag), '-', '+')) {
    if (Number(field(fields, 't')) >= before) continue;
    if (Number(id.slice(2)) - 1 >= safeBelow) {
      out.pending++;
      continue;
    }
    out.removed++;
    doomed.push(id);
    if (doomed.length >= SLICE) await flush();
  }
  await flush();
  return out;
}

/** Dead letters committed with their batch before `before` (their stream id is Redis's time at commit). */
export async function expireRedisDeadLetters(redis: Redis | Cluster, tag: string, before: number, dryRun = false): Promise<number> {
  if (!dryRun) return Number(await redis.xtrim(dlKey(tag), 'MINID', String(Math.floor(before))));
  let n = 0;
  for await (const _ of xrangeAll(redis, dlKey(tag), '-', `(${Math.floor(before)}`)) n++;
  return n;
}
