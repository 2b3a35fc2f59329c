// Retention in each input log and dead-letter store, on real files and the run's throwaway Postgres and
// Redis: expired records below the applied offset go (their bytes too), later ones and unapplied ones stay,
// offsets and producers' re-send detection survive, and a log reopened after expiry reads on.
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { FileInputLog } from '../../engine/log/file-log.js';
import { MemoryInputLog } from '../../engine/log/memory-log.js';
import { PostgresInputLog } from '../../engine/log/postgres-log.js';
import { RedisInputLog } from '../../engine/log/redis-log.js';
import { FileDeadLetterStore } from '../../engine/deadletter/file-deadletter.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { expireFileLog } from '../../engine/retention/file-log.js';
import { expirePostgresLog, expireRedisDeadLetters, expireRedisLog } from '../../engine/retention/server-logs.js';
import { dlKey, inKey } from '../../engine/state/key-layout.js';

const NOV = Date.parse('2026-11-10T09:00:00Z');
const JAN = Date.parse('2027-01-10T09:00:00Z');
const HORIZON = Date.parse('2026-12-01T00:00:00Z');
const uniq = () => `ret${Date.now()}${Math.random().toString(36).slice(2, 6)}`;
/** Offsets 0-5 arrived in November (they say `typed in november`), 6-9 in January. */
const entries = () =>
  Array.from({ length: 10 }, (_, i) => ({ stream: 'batch', event: { event: 'keystroke', auth: { user_id: 's-0001' }, text: i < 6 ? `typed in november ${i}` : `typed in january ${i}` }, at: i < 6 ? NOV + i : JAN + i, producer: 'p', seq: i }));
const texts = (events: Array<{ event: unknown }>) => events.map((e) => (e.event as { text: string }).text);

describe('file log', () => {
  it('deletes wholly expired leading segments, tombstones expired records in place, keeps unapplied ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-ret-file-'));
    const log = new FileInputLog(dir, 4); // segments 0-3, 4-7, 8-9 (a segment rolls between appends)
    const all10 = entries();
    for (const part of [all10.slice(0, 4), all10.slice(4, 8), all10.slice(8)]) await log.append(part);
    // Applied below 5: offset 5 (November) is expired but not yet applied: it stays.
    const dry = expireFileLog(dir, HORIZON, 5, true);
    expect(dry).toEqual({ removed: 5, segments: 0, pending: 1 });
    expect(readdirSync(dir).filter((f) => f.startsWith('segment-'))).toHaveLength(3); // a dry run changes nothing
    expect(expireFileLog(dir, HORIZON, 5)).toEqual({ removed: 5, segments: 1, pending: 1 });
    const all = () => readdirSync(dir).filter((f) => f.startsWith('segment-')).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    expect(all()).not.toMatch(/november [0-4]/);
    expect(all()).toMatch(/november 5/);
    // The running log (the server's, still open) reads on and appends at the end as before.
    expect(texts(await log.read(6, 10))).toEqual(['typed in january 6', 'typed in january 7', 'typed in january 8', 'typed in january 9']);
    await log.append([{ stream: 'batch', event: { event: 'x', text: 'later' }, at: JAN + 100, producer: 'p', seq: 10 }]);
    // Once applied, offset 5 goes too; the next pass finds nothing more.
    expect(expireFileLog(dir, HORIZON, 11)).toEqual({ removed: 1, segments: 0, pending: 0 });
    expect(expireFileLog(dir, HORIZON, 11)).toEqual({ removed: 0, segments: 0, pending: 0 });
    expect(all()).not.toMatch(/november/);
    await log.close();
    // Reopened: offsets continue, tombstones are not read back, producers' sequences of deleted segments hold.
    const again = new FileInputLog(dir, 4);
    expect(await again.end()).toBe(11);
    expect(texts(await again.read(4, 100))).toEqual(['typed in january 6', 'typed in january 7', 'typed in january 8', 'typed in january 9', 'later']);
    expect(await again.append([{ stream: 'batch', event: { event: 'x' }, at: JAN, producer: 'p', seq: 2 }])).toEqual({ first: 11, count: 0 }); // a re-send
    expect(await again.append([{ stream: 'batch', event: { event: 'x' }, at: JAN, producer: 'p', seq: 11 }])).toEqual({ first: 11, count: 1 });
    await again.close();
  });
});

describe('memory log', () => {
  it('drops the expired applied prefix only', async () => {
    const log = new MemoryInputLog();
    await log.append(entries().map(({ producer: _p, seq: _s, ...e }) => e));
    expect(await log.expire(HORIZON, 3)).toBe(3);
    expect(texts(await log.read(0, 100))[0]).toBe('typed in november 3');
    expect(await log.expire(HORIZON, 10)).toBe(3);
    expect(texts(await log.read(0, 100))).toEqual(['typed in january 6', 'typed in january 7', 'typed in january 8', 'typed in january 9']);
  });
});

describe('Postgres log', () => {
  it('deletes expired applied rows while the log is open (a running server holds its lock)', async () => {
    const url = inject('postgresUrl');
    const name = uniq();
    const log = await PostgresInputLog.open(url, name);
    try {
      await log.append(entries());
      expect(await expirePostgresLog(url, name, HORIZON, 4, true)).toEqual({ removed: 4, segments: 0, pending: 2 });
      expect(await expirePostgresLog(url, name, HORIZON, 4)).toEqual({ removed: 4, segments: 0, pending: 2 });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ off: string; event: string }>('SELECT off, event FROM loflow.events WHERE pipeline = $1 ORDER BY off', [name]);
      await client.end();
      expect(rows.map((r) => Number(r.off))).toEqual([4, 5, 6, 7, 8, 9]);
      expect(rows.map((r) => r.event).join('')).not.toMatch(/november [0-3]/);
      // Appends go on behind it.
      expect(await log.append([{ stream: 'batch', event: { event: 'x' }, at: JAN }])).toEqual({ first: 10, count: 1 });
    } finally {
      await log.close();
    }
  });
});

describe('Redis', () => {
  it('input log: XDELs expired applied entries by their arrival time', async () => {
    const redis = new Redis(inject('redisUrl'));
    const tag = uniq();
    try {
      const { log } = await RedisInputLog.open(redis, tag, 'none');
      await log.append(entries());
      expect(await expireRedisLog(redis, tag, HORIZON, 4)).toEqual({ removed: 4, segments: 0, pending: 2 });
      const rest = await redis.xrange(inKey(tag), '-', '+');
      expect(rest.map(([id]) => id)).toEqual(['0-5', '0-6', '0-7', '0-8', '0-9', '0-10']);
      expect(JSON.stringify(rest)).not.toMatch(/november [0-3]/);
      expect(texts(await log.read(4, 100))).toHaveLength(6);
    } finally {
      await redis.del(inKey(tag), `lf:{${tag}}:cur`, `lf:{${tag}}:prod`);
      redis.disconnect();
    }
  });

  it('dead letters: trims the committed stream by time', async () => {
    const redis = new Redis(inject('redisUrl'));
    const tag = uniq();
    try {
      await redis.xadd(dlKey(tag), `${NOV}-0`, 'l', JSON.stringify({ reason: 'november' }));
      await redis.xadd(dlKey(tag), `${JAN}-0`, 'l', JSON.stringify({ reason: 'january' }));
      expect(await expireRedisDeadLetters(redis, tag, HORIZON, true)).toBe(1);
      expect(await redis.xlen(dlKey(tag))).toBe(2);
      expect(await expireRedisDeadLetters(redis, tag, HORIZON)).toBe(1);
      expect((await redis.xrange(dlKey(tag), '-', '+')).map(([id]) => id)).toEqual([`${JAN}-0`]);
    } finally {
      await redis.del(dlKey(tag));
      redis.disconnect();
    }
  });
});

describe('dead-letter files', () => {
  it('removes letters older than the horizon and keeps the rest in order', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'loflow-ret-dl-')), 'deadletters.ndjson');
    const store = new FileDeadLetterStore(file);
    const letter = (at: number, reason: string) => ({ stream: 'batch', event: { auth: { user_id: 's-1' } }, reason, at, stage: 'ingest' });
    await store.put([letter(NOV, 'old one'), letter(JAN, 'new one'), letter(NOV + 1, 'old two')]);
    expect(await store.expire(HORIZON, true)).toBe(2);
    expect(await store.count()).toBe(3);
    expect(await store.expire(HORIZON)).toBe(2);
    expect((await store.list()).map((l) => l.reason)).toEqual(['new one']);
    expect(readFileSync(file, 'utf8')).not.toMatch(/old/);
    const mem = new MemoryDeadLetterStore();
    await mem.put([letter(NOV, 'a'), letter(JAN, 'b')]);
    expect(await mem.expire(HORIZON)).toBe(1);
    expect((await mem.list()).map((l) => l.reason)).toEqual(['b']);
  });
});

describe('file log reader after expiry', () => {
  it('reads past a stretch of tombstones instead of answering empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-ret-holes-'));
    const log = new FileInputLog(dir);
    await log.append(entries());
    expect(expireFileLog(dir, HORIZON, 10)).toMatchObject({ removed: 6 });
    await log.close();
    const again = new FileInputLog(dir);
    // Offsets 0-5 are tombstones: a read from 0 goes on, window by window, to the first events there are.
    expect((await again.read(0, 4)).map((e) => e.offset)).toEqual([6, 7]);
    expect((await again.read(0, 2)).map((e) => e.offset)).toEqual([6, 7]);
    expect((await again.read(0, 100)).map((e) => e.offset)).toEqual([6, 7, 8, 9]);
    await again.close();
  });
});
