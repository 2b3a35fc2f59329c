// The input log in a Redis Stream (`--checkpoint redis`, docs/scale-out.md §3-4): lf:T:in, entry ids
// 0-<offset + 1>, in the same slot as the states and the committed cursor, so the log, the cursor and the
// lease live and fail over together. An append is one ingest.lua call (producer re-sends dropped against the
// high-water mark in the same slot); its reply comes after Redis has the entries (and, with durability
// replicated, after WAIT 1), and only then is the client acknowledged. What an acknowledged event survives
// is Redis's persistence setting, checked at open (durability.ts). Reads of events appended by this process
// come from an in-memory tail (the consumer reads right behind ingest); older ones from XRANGE. Trimming
// (trim.lua) never passes the committed cursor, nor what the caller says the archive holds durably.
import type { Cluster, Redis } from 'ioredis';
import { checkDurability, type Durability } from '../state/durability.js';
import { curKey, inKey, prodKey } from '../state/key-layout.js';
import { runScript } from '../state/run-script.js';
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';
import { unavailable } from '../unavailable.js';
import { isErased, tombstone } from '../erase/tombstone.js';
import { GroupCommit } from './group-commit.js';
import type { RawJsonConsumer } from './raw-json.js';
import { ingestCall, type IngestEntry } from './ingest-call.js';

type Entry = IngestEntry;

/** Trim at most once per this many committed events: one XTRIM per ~16 batches, not per batch. */
const TRIM_EVERY = 16_384;
/** Entries per XRANGE. */
const READ_SLICE = 4096;

export class RedisInputLog implements InputLog, RawJsonConsumer {
  readonly kind = 'redis';
  readonly reusesRawJson = true;
  private next = 0;
  private tail: LoggedEvent[] = [];
  private tailBase = 0;
  private trimmedTo = 0;
  private readonly group = new GroupCommit<Entry[], { first: number; count: number }>((g) => this.flushGroup(g));

  private constructor(
    private readonly redis: Redis | Cluster,
    readonly tag: string,
    readonly durability: Durability,
  ) {}

  /** Open partition `tag`'s log; refuses when Redis's persistence cannot give `durability`. Returns a note when unchecked. */
  static async open(redis: Redis | Cluster, tag: string, durability: Durability): Promise<{ log: RedisInputLog; note: string | null }> {
    const note = await checkDurability(redis, durability);
    return { log: await RedisInputLog.attach(redis, tag, durability), note };
  }

  /** Open partition `tag`'s log without checking the persistence settings again (the caller did, once). */
  static async attach(redis: Redis | Cluster, tag: string, durability: Durability): Promise<RedisInputLog> {
    const log = new RedisInputLog(redis, tag, durability);
    const [end, committed] = await log.call(() => redis.hmget(curKey(tag), 'end', 'in'));
    log.next = Math.max(Number(end ?? 0), Number(committed ?? 0));
    log.tailBase = log.next;
    log.trimmedTo = Number(committed ?? 0);
    return log;
  }

  /**
   * The log's end as Redis has it (cur.end): a worker follows a partition that other processes append to.
   * Returns the new end.
   */
  async refreshEnd(): Promise<number> {
    const end = await this.call(() => this.redis.hget(curKey(this.tag), 'end'));
    this.next = Math.max(this.next, Number(end ?? 0));
    return this.next;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw (err as { code?: string }).code === 'UNAVAILABLE' ? err : unavailable('redis', err);
    }
  }

  append(entries: Entry[]): Promise<{ first: number; count: number }> {
    return this.group.submit(entries);
  }

  /** Appends arriving while one is in flight go out together: one ingest.lua call (group commit). */
  private async flushGroup(group: Entry[][]): Promise<Array<{ first: number; count: number }>> {
    const all = group.flat();
    if (all.length === 0) return group.map(() => ({ first: this.next, count: 0 }));
    // first offset, and a mask of which entries were appended ('1') or dropped as re-sends ('0').
    const { first, mask } = await ingestCall(this.redis, this.tag, this.durability, all);
    let offset = first;
    if (offset !== this.tailBase + this.tail.length) {
      this.tail = [];
      this.tailBase = offset; // numbering moved on (startAt): older events are read from Redis
    }
    const results: Array<{ first: number; count: number }> = [];
    let i = 0;
    for (const entries of group) {
      const first = offset;
      for (const e of entries) if (mask[i++] === '1') this.tail.push({ offset: offset++, stream: e.stream, event: e.event, at: e.at });
      results.push({ first, count: offset - first });
    }
    this.next = Math.max(this.next, offset);
    return results;
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    // Appended by this process and still in memory: from the tail. Else (older, or appended by another
    // process: an ingest node, for a worker) from Redis.
    const tailEnd = this.tailBase + this.tail.length;
    if (from >= this.tailBase && from < tailEnd) return this.tail.slice(from - this.tailBase, from - this.tailBase + max);
    if (from < this.tailBase) return this.readRedis(from, Math.min(max, this.tailBase - from));
    // Past the tail: only up to the end known to be appended (refreshEnd / grew), since readRedis reads a
    // missing id as a tombstone (an erased entry), it must never be asked past the log's end.
    return from < this.next ? this.readRedis(from, Math.min(max, this.next - from)) : [];
  }

  /** An ingest node appended up to `end`: numbering and reads continue there (see read). */
  grew(end: number): void {
    if (end > this.next) this.next = end;
  }

  /**
   * XRANGE in slices of READ_SLICE: a re-feed's 50,000-event read must not be one reply that outlasts the
   * command timeout. The range [from, from + max) is below the tail, so every offset in it was appended: an
   * id missing from the stream (deleted by hand: `loflow erase` leaves tombstones) reads as a tombstone, so offsets stay dense.
   */
  private async readRedis(from: number, max: number): Promise<LoggedEvent[]> {
    const out: LoggedEvent[] = [];
    const end = from + max;
    let next = from;
    for (;;) {
      const start = next;
      const rows = await this.call(() => this.redis.xrange(inKey(this.tag), `0-${start + 1}`, `0-${end}`, 'COUNT', READ_SLICE));
      for (const [id, fields] of rows) {
        const f: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
        const offset = Number(id.slice(2)) - 1;
        while (next < offset) out.push(tombstone({ offset: next++, at: 0 }));
        out.push({ offset, stream: f.s, event: JSON.parse(f.e) as LoEvent, at: Number(f.t) });
        next = offset + 1;
      }
      if (rows.length < READ_SLICE) break;
    }
    while (next < end) out.push(tombstone({ offset: next++, at: 0 }));
    return out;
  }

  /**
   * `loflow erase`: matching entries become tombstones, in the stream (tombstone.lua rebuilds it: an entry
   * cannot be rewritten in place, and XDEL leaves its bytes in the stream's node) and in the in-memory tail.
   * A producer whose id names the learner loses its high-water mark. The caller holds the partition's
   * lease and runs between batches: no batch reads meanwhile.
   */
  async erase(match: (e: LoggedEvent) => boolean, dryRun: boolean): Promise<number> {
    const doomed: string[] = [];
    /** Producer ids that name the learner: their tombstones keep no producer field. */
    const named = new Set<string>();
    let start = '-';
    for (;;) {
      const rows = await this.call(() => this.redis.xrange(inKey(this.tag), start, '+', 'COUNT', READ_SLICE));
      for (const [id, fields] of rows) {
        const f: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
        const e = { offset: Number(id.slice(2)) - 1, stream: f.s, event: JSON.parse(f.e) as LoEvent, at: Number(f.t) };
        if (isErased(e) || !match(e)) continue;
        doomed.push(id);
        if (f.p !== undefined && match({ ...e, event: { producer: f.p } })) named.add(f.p);
      }
      if (rows.length < READ_SLICE) break;
      start = '(' + rows[rows.length - 1][0];
    }
    if (dryRun) return doomed.length;
    if (doomed.length) await this.call(() => runScript(this.redis, 'lfTombstone', [inKey(this.tag)], [doomed.length, ...doomed, ...named]));
    for (let i = 0; i < this.tail.length; i++) if (!isErased(this.tail[i]) && match(this.tail[i])) this.tail[i] = tombstone(this.tail[i]);
    const producers = await this.call(() => this.redis.hkeys(prodKey(this.tag)));
    const gone = producers.filter((p) => match({ offset: -1, stream: '', at: 0, event: { producer: p } }));
    if (gone.length) await this.call(() => this.redis.hdel(prodKey(this.tag), ...gone));
    return doomed.length;
  }

  async end(): Promise<number> {
    return this.next;
  }

  /** The store committed up to `offset` on an empty log: numbering continues there (ingest.lua does the same). */
  startAt(offset: number): void {
    if (this.next < offset && this.tail.length === 0) this.next = this.tailBase = offset;
  }

  /** Committed events leave memory; they stay in Redis until trimmed. */
  release(offset: number): void {
    if (offset <= this.tailBase) return;
    const drop = Math.min(offset - this.tailBase, this.tail.length);
    this.tail = drop === this.tail.length ? [] : this.tail.slice(drop);
    this.tailBase += drop;
  }

  /** Drop entries below `offset` (committed, and archived when the archive keeps raw events): see trim.lua. */
  async truncate(offset: number): Promise<void> {
    this.release(offset);
    if (offset - this.trimmedTo < TRIM_EVERY) return;
    await this.call(() => runScript(this.redis, 'lfTrim', [inKey(this.tag), curKey(this.tag)], [offset]));
    this.trimmedTo = offset;
  }

  /** The connection is the state store's: it closes it. */
  async close(): Promise<void> {
    await this.group.drain();
  }
}
