// A durable input log in Postgres: an append is one INSERT statement (events, and the producers' highest
// sequence numbers, in the same implicit transaction), committed before the sender is acknowledged.
//
// Why it is fast enough: appends that arrive while one is in flight are grouped into the next statement
// (group commit), so many concurrent HTTP/WebSocket batches cost one round trip and one WAL flush; reads of
// events appended by this process are served from an in-memory tail (the consumer reads right behind the
// writers), so steady-state processing does not read Postgres back; truncation is coalesced.
//
// One writer per pipeline: the log holds a session advisory lock while open, so a second process on the same
// pipeline gets a clear error instead of interleaving offsets. Postgres releases it when the holder dies.
import pg from 'pg';
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';
import { unavailable } from '../unavailable.js';
import { ERASED_STREAM, isErased, tombstone } from '../erase/tombstone.js';
import { GroupCommit } from './group-commit.js';

type Entry = { stream: string; event: LoEvent; at: number; producer?: string; seq?: number };

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS loflow;
CREATE TABLE IF NOT EXISTS loflow.events (
  pipeline text NOT NULL, off bigint NOT NULL, stream text NOT NULL, at bigint NOT NULL, event text NOT NULL,
  PRIMARY KEY (pipeline, off));
CREATE TABLE IF NOT EXISTS loflow.producers (
  pipeline text NOT NULL, producer text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (pipeline, producer));
CREATE TABLE IF NOT EXISTS loflow.log_base (pipeline text PRIMARY KEY, base bigint NOT NULL);`;

/** pg-pool may already have let go of a client whose connection died; releasing it twice throws. */
function releaseQuietly(client: pg.PoolClient, destroy: boolean): void {
  try {
    client.release(destroy);
  } catch {
    /* already released */
  }
}

export class PostgresInputLog implements InputLog {
  readonly kind = 'postgres';
  private next = 0;
  /** Events appended by this process and not yet truncated: tail[i] has offset tailBase + i. */
  private tail: LoggedEvent[] = [];
  private tailBase = 0;
  private readonly producers = new Map<string, number>();
  private readonly group = new GroupCommit<Entry[], { first: number; count: number }>((g) => this.flushGroup(g));
  private truncated = 0;
  private truncating: Promise<void> | null = null;
  /** The lock's session ended (Postgres restarted): take the lock again before the next write. */
  private lockLost = false;

  private constructor(
    private readonly pool: pg.Pool,
    private lockClient: pg.PoolClient,
    readonly pipeline: string,
  ) {
    this.watchLock(lockClient);
  }

  private watchLock(client: pg.PoolClient): void {
    const lost = () => {
      if (this.lockClient === client) this.lockLost = true;
    };
    client.on('error', lost);
    client.on('end', lost);
  }

  private async ensureLock(): Promise<void> {
    if (!this.lockLost) return;
    releaseQuietly(this.lockClient, true);
    const client = await this.pool.connect();
    const got = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('loflow.log:' || $1)) AS ok", [this.pipeline]).catch((err: unknown) => {
      client.release(true);
      throw err;
    });
    if (!got.rows[0].ok) {
      client.release();
      throw new Error(`lost the input log lock of pipeline '${this.pipeline}' to another loflow process while Postgres was away`);
    }
    this.lockClient = client;
    this.lockLost = false;
    this.watchLock(client);
  }

  static async open(url: string, pipeline: string): Promise<PostgresInputLog> {
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
    pool.on('error', () => {
      /* an idle client lost its server: reported by the next query (UNAVAILABLE) */
    });
    let lockClient: pg.PoolClient;
    try {
      lockClient = await pool.connect();
      lockClient.on('error', () => undefined); // a lost session is noticed by watchLock / the next query
      await lockClient.query(SCHEMA).catch(async (err: { code?: string }) => {
        // Two processes creating the schema at once race on the catalog: the loser retries once.
        if (err.code === '23505' || err.code === '42P07') await lockClient.query(SCHEMA);
        else throw err;
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw unavailable('postgres', err);
    }
    const got = await lockClient.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('loflow.log:' || $1)) AS ok", [pipeline]);
    if (!got.rows[0].ok) {
      lockClient.release();
      await pool.end();
      throw new Error(`another loflow process holds the input log of pipeline '${pipeline}' in this Postgres database`);
    }
    const log = new PostgresInputLog(pool, lockClient, pipeline);
    const { rows } = await pool.query<{ end: string | null; base: string | null }>(
      'SELECT (SELECT max(off) + 1 FROM loflow.events WHERE pipeline = $1) AS end, (SELECT base FROM loflow.log_base WHERE pipeline = $1) AS base',
      [pipeline],
    );
    log.next = Math.max(Number(rows[0].end ?? 0), Number(rows[0].base ?? 0));
    log.tailBase = log.next;
    log.truncated = Number(rows[0].base ?? 0);
    const prods = await pool.query<{ producer: string; seq: string }>('SELECT producer, seq FROM loflow.producers WHERE pipeline = $1', [pipeline]);
    for (const p of prods.rows) log.producers.set(p.producer, Number(p.seq));
    return log;
  }

  startAt(offset: number): void {
    if (this.next < offset && this.tail.length === 0) {
      this.next = offset;
      this.tailBase = offset;
    }
  }

  append(entries: Entry[]): Promise<{ first: number; count: number }> {
    return this.group.submit(entries);
  }

  /** One statement for every append waiting: the group commit. */
  private async flushGroup(group: Entry[][]): Promise<Array<{ first: number; count: number }>> {
    const before = new Map<string, number | undefined>();
    // Columns travel as newline-joined text (JSON never holds a raw newline) split by Postgres: far cheaper
    // than pg's per-element array escaping.
    const streams: string[] = [];
    const ats: number[] = [];
    const events: string[] = [];
    const added: LoggedEvent[] = [];
    const results: Array<{ first: number; count: number }> = [];
    let next = this.next;
    for (const entries of group) {
      const first = next;
      for (const e of entries) {
        if (e.producer !== undefined && e.seq !== undefined) {
          const high = this.producers.get(e.producer);
          if (high !== undefined && e.seq <= high) continue; // a re-send
          if (!before.has(e.producer)) before.set(e.producer, high);
          this.producers.set(e.producer, e.seq);
        }
        streams.push(e.stream);
        ats.push(e.at);
        events.push(JSON.stringify(e.event));
        added.push({ offset: next, stream: e.stream, event: e.event, at: e.at });
        next++;
      }
      results.push({ first, count: next - first });
    }
    const prodNames = [...before.keys()];
    const prodSeqs = prodNames.map((p) => this.producers.get(p)!);
    try {
      await this.ensureLock();
      if (events.length) {
        await this.pool.query(
          `WITH ev AS (INSERT INTO loflow.events (pipeline, off, stream, at, event)
             SELECT $1, $2::bigint + o - 1, s, a::bigint, e
             FROM unnest(string_to_array($3, E'\n'), string_to_array($4, E'\n'), string_to_array($5, E'\n')) WITH ORDINALITY AS t(s, a, e, o) RETURNING 1),
           pr AS (INSERT INTO loflow.producers (pipeline, producer, seq)
             SELECT $1, * FROM unnest($6::text[], $7::bigint[])
             ON CONFLICT (pipeline, producer) DO UPDATE SET seq = GREATEST(loflow.producers.seq, EXCLUDED.seq) RETURNING 1)
           SELECT (SELECT count(*) FROM ev) AS events, (SELECT count(*) FROM pr) AS producers`,
          [this.pipeline, this.next, streams.join('\n'), ats.join('\n'), events.join('\n'), prodNames, prodSeqs],
        );
      }
    } catch (err) {
      // Nothing was written: forget the sequence numbers this group claimed, so a re-send is accepted.
      for (const [p, high] of before) {
        if (high === undefined) this.producers.delete(p);
        else this.producers.set(p, high);
      }
      throw (err as { code?: string }).code === '23505' || /lost the input log lock/.test((err as Error).message) ? err : unavailable('postgres', err);
    }
    this.next = next;
    for (const a of added) this.tail.push(a);
    return results;
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    if (from >= this.tailBase) return this.tail.slice(from - this.tailBase, from - this.tailBase + max);
    let rows: Array<{ off: string; stream: string; at: string; event: string }>;
    try {
      ({ rows } = await this.pool.query('SELECT off, stream, at, event FROM loflow.events WHERE pipeline = $1 AND off >= $2 ORDER BY off LIMIT $3', [
        this.pipeline,
        from,
        Math.min(max, this.tailBase - from),
      ]));
    } catch (err) {
      throw unavailable('postgres', err);
    }
    return rows.map((r) => ({ offset: Number(r.off), stream: r.stream, at: Number(r.at), event: JSON.parse(r.event) as LoEvent }));
  }

  /**
   * `loflow erase`: matching rows become tombstones (stream loflow:erased, event '{}', same offset) in one
   * UPDATE, and in the in-memory tail; a producer whose id names the learner loses its row. Rows are found
   * with a text pre-filter on the learner's id (`needle`), then matched exactly. The old row versions stay
   * in Postgres's files until VACUUM reuses their space (README "Erasure": limits).
   */
  async erase(match: (e: LoggedEvent) => boolean, dryRun: boolean, needle?: string): Promise<number> {
    const hits: number[] = [];
    try {
      let after = -1;
      for (;;) {
        const { rows } = await this.pool.query<{ off: string; stream: string; at: string; event: string }>(
          `SELECT off, stream, at, event FROM loflow.events WHERE pipeline = $1 AND off > $2 AND stream <> '${ERASED_STREAM}' AND ($3::text IS NULL OR strpos(event, $3) > 0) ORDER BY off LIMIT 5000`,
          [this.pipeline, after, needle ?? null],
        );
        for (const r of rows) if (match({ offset: Number(r.off), stream: r.stream, at: Number(r.at), event: JSON.parse(r.event) as LoEvent })) hits.push(Number(r.off));
        if (rows.length < 5000) break;
        after = Number(rows[rows.length - 1].off);
      }
      if (dryRun) return hits.length;
      if (hits.length) await this.pool.query(`UPDATE loflow.events SET stream = '${ERASED_STREAM}', event = '{}' WHERE pipeline = $1 AND off = ANY($2::bigint[])`, [this.pipeline, hits]);
      for (let i = 0; i < this.tail.length; i++) if (!isErased(this.tail[i]) && match(this.tail[i])) this.tail[i] = tombstone(this.tail[i]);
      const prods = await this.pool.query<{ producer: string }>('SELECT producer FROM loflow.producers WHERE pipeline = $1', [this.pipeline]);
      const named = prods.rows.map((r) => r.producer).filter((p) => match({ offset: -1, stream: '', at: 0, event: { producer: p } }));
      if (named.length) await this.pool.query('DELETE FROM loflow.producers WHERE pipeline = $1 AND producer = ANY($2::text[])', [this.pipeline, named]);
    } catch (err) {
      throw unavailable('postgres', err);
    }
    return hits.length;
  }

  async end(): Promise<number> {
    return this.next;
  }

  /** Committed events leave memory; they stay in Postgres. */
  release(offset: number): void {
    if (offset > this.tailBase) {
      const drop = Math.min(offset - this.tailBase, this.tail.length);
      this.tail = drop === this.tail.length ? [] : this.tail.slice(drop);
      this.tailBase += drop;
    }
  }

  /** Committed events leave memory at once; the DELETE in Postgres is coalesced (one in flight at a time). */
  async truncate(offset: number): Promise<void> {
    this.release(offset);
    if (offset - this.truncated >= 5000 && !this.truncating) {
      const upTo = offset;
      this.truncating = this.pool
        .query(
          `WITH d AS (DELETE FROM loflow.events WHERE pipeline = $1 AND off < $2 RETURNING 1)
           INSERT INTO loflow.log_base (pipeline, base) VALUES ($1, $2) ON CONFLICT (pipeline) DO UPDATE SET base = GREATEST(loflow.log_base.base, EXCLUDED.base)`,
          [this.pipeline, upTo],
        )
        .then(
          () => {
            this.truncated = upTo;
          },
          () => undefined, // retried at a later truncate; the events are committed already
        )
        .finally(() => {
          this.truncating = null;
        });
    }
  }

  async close(): Promise<void> {
    await this.group.drain();
    await this.truncating;
    releaseQuietly(this.lockClient, this.lockLost);
    await this.pool.end();
  }
}
