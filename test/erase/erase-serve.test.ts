// Issue #16's first "done when": a classroom archived by `loflow serve` (Redis states, the Postgres log with
// DBOS batches, the archive), one student erased with `loflow erase --server` while it serves, then no byte
// loflow wrote holds their id or a sentence they typed: every file of the data folder (archive included),
// a full Redis dump (RDB written uncompressed, and every key name), every Postgres database (pg_dumpall),
// the dead letters, a CAR exported after the erasure; `archive verify` passes on the old and the new root;
// the class dashboard equals a server's that never saw the student. Then the same on the embedded
// defaults (file log, memory states), where a restart replays the log. Throwaway servers, stopped by PID.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresBin, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../../bench/servers.js';
import { ensureMasterKeyFile, FileDekStore, openKeyProvider } from '../../archive/keys/index.js';
import { openArchive } from '../../archive/replay-source.js';
import { containsLearner } from '../../engine/erase/match.js';
import { cli, tmp } from '../archive/helpers.js';
import { serveChild, type ServeChild } from '../hardening/serve-child.js';
import { classroomEvents, ERASED, filesContaining, SENTENCE } from './classroom-fixture.js';
import { ADMIN, dashboard, demoCopy, processed, send } from './serve-fixture.js';

const needles = [ERASED, SENTENCE];
const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Every key name and an uncompressed RDB snapshot of the whole Redis: which needles occur. */
async function redisHolds(redis: RunningRedis): Promise<string[]> {
  const c = new Redis(redis.url);
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) for (const n of needles) if (k.includes(n)) found.push(`key ${k}`);
    } while (cursor !== '0');
    await c.config('SET', 'rdbcompression', 'no');
    await c.save();
    const rdb = readFileSync(join(redis.dir, 'dump.rdb'));
    for (const n of needles) if (rdb.includes(Buffer.from(n))) found.push(`dump.rdb: ${n}`);
    return found;
  } finally {
    c.disconnect();
  }
}

/** pg_dumpall of the throwaway cluster (the log's tables and DBOS's): which needles occur. */
function postgresHolds(pg: RunningPostgres): string[] {
  const dump = execFileSync(postgresBin('pg_dumpall'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres'], { maxBuffer: 256 << 20 }).toString();
  return needles.filter((n) => dump.includes(n)).map((n) => `pg_dumpall: ${n}`);
}

async function erase(url: string, ...extra: string[]) {
  return cli(['erase', ERASED, '--server', url, '--token', ADMIN, '--by', 'privacy-officer', '--reason', 'parent request', ...extra]);
}

describe('loflow erase while serve runs', () => {
  it('Redis states + Postgres log + archive: nothing of the student is left anywhere; aggregates equal a run without them', async () => {
    const ev = classroomEvents();
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const pg = await startPostgres();
    cleanup.push(() => pg.stop());
    const dir = tmp('loflow-erase-serve-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const pipeline = demoCopy(dir);
    // An encrypted archive (format 3): its master key is kept outside the data folder.
    const keyFile = join(dir, 'master.key');
    ensureMasterKeyFile(keyFile);
    const s = await serveChild(['--state', redis.url, '--checkpoint', pg.url, '--admin-token', ADMIN, '--demo', '--demo-tokens'], { LOFLOW_MASTER_KEY_FILE: keyFile }, pipeline);
    cleanup.push(() => s.stop());
    await send(s.url, [...ev.all, ev.invalid]);
    await processed(s.url, ev.all.length);
    const archive = join(s.data, 'writing-observer', 'archive');
    await until(() => existsSync(join(archive, 'HEAD')));
    // Before: the student is in the data folder, Redis and Postgres (else the checks below prove nothing).
    expect(s.deadLetters().some((l) => JSON.stringify(l).includes(ERASED))).toBe(true);
    expect((await redisHolds(redis)).length).toBeGreaterThan(0);
    expect(postgresHolds(pg).length).toBeGreaterThan(0);
    // The old root: the first commit that holds every event (the archive commits every 10 s, so the HEAD
    // when the events are applied may predate them).
    const archiveKeys = async () => ({ provider: (await openKeyProvider({ masterKeyFile: keyFile, env: {} }))!, deks: FileDekStore.forArchive(archive) });
    let oldRoot = '';
    await until(async () => {
      oldRoot = readFileSync(join(archive, 'HEAD'), 'utf8').trim();
      let n = 0;
      for await (const e of (await openArchive(oldRoot, { dir: archive, keys: await archiveKeys() })).events()) if (e.stream === 'extension' || e.stream === 'batch') n++;
      return n >= ev.all.length;
    }, 60_000);

    const dry = await erase(s.url, '--dry-run', '--json');
    const plan = JSON.parse(dry.stdout);
    expect(plan.dryRun).toBe(true);
    expect(plan.record.counts['states (redis)']).toBeGreaterThan(0);
    expect(plan.record.counts['input log events (postgres)']).toBe(ev.all.length - ev.without.length);
    expect(plan.record.counts['dead letters']).toBe(1);

    const done = await erase(s.url, '--json');
    const report = JSON.parse(done.stdout);
    expect(report.record.learner).toMatch(/^p:[0-9a-f]{24}$/);
    expect(report.cid).toMatch(/^bafy/);
    expect(report.record.counts).toMatchObject({ 'states (redis)': plan.record.counts['states (redis)'], 'dead letters': 1 });
    // The server keeps serving: later events of other students are processed.
    await send(s.url, ev.after);
    await processed(s.url, ev.all.length + ev.after.length);
    const erasedView = await dashboard(s.url, 'class-b', 't-ada');

    // No byte anywhere loflow writes holds the student's id or their sentence.
    expect(filesContaining(s.data, needles, (p) => p === archive)).toEqual([]);
    expect(filesContaining(dir, needles, (p) => p === archive || p.endsWith('.yaml') || p.includes('rosters'))).toEqual([]);
    expect(await redisHolds(redis)).toEqual([]);
    expect(postgresHolds(pg)).toEqual([]);

    // A second erasure finds nothing (the archive's part: below).
    const again = JSON.parse((await erase(s.url, '--json')).stdout);
    expect(Object.values(again.record.counts).every((n) => n === 0)).toBe(true);

    // A server that never saw the student shows the class the same.
    const ref = await serveChild(['--demo', '--demo-tokens'], {}, pipeline);
    cleanup.push(() => ref.stop());
    await send(ref.url, [...ev.without, ...ev.after]);
    await processed(ref.url, ev.without.length + ev.after.length);
    expect(erasedView).toEqual(await dashboard(ref.url, 'class-b', 't-ada'));

    // The archive's part (issue #16 point 1, the h-crypto branch): keys destroyed, a new root that verifies as
    // the old one does, and no byte of the archive folder or of a CAR exported now holds the student.
    expect(report.record.incomplete).toEqual([]);
    expect(done.code).toBe(0);
    await until(() => readFileSync(join(archive, 'HEAD'), 'utf8').trim() !== oldRoot, 15_000);
    const car = join(dir, 'after.car');
    expect((await cli(['archive', 'export', '--dir', archive, '--out', car, '--no-log'])).code).toBe(0);
    const oldCar = join(dir, 'old.car');
    expect((await cli(['archive', 'export', '--dir', archive, '--commit', oldRoot, '--out', oldCar, '--no-log'])).code).toBe(0);
    expect((await cli(['archive', 'verify', oldCar])).code).toBe(0);
    expect((await cli(['archive', 'verify', car])).code).toBe(0);

    expect(filesContaining(archive, needles)).toEqual([]);
    expect(filesContaining(dir, needles, (p) => p.endsWith('.yaml') || p.includes('rosters'))).toEqual([]);
    expect(report.record.counts['archive data keys destroyed']).toBeGreaterThan(0);
    // With every key there is, the old root's events of the student no longer decrypt; the others' do.
    const keys = { provider: (await openKeyProvider({ masterKeyFile: keyFile, env: {} }))!, deks: FileDekStore.forArchive(archive) };
    const old = await openArchive(oldRoot, { dir: archive, keys });
    let others = 0;
    for await (const e of old.events()) {
      expect(containsLearner(e.event, ERASED)).toBe(false);
      others++;
    }
    expect(others).toBeGreaterThan(ev.without.length / 2);
    expect(old.unreadable()).toMatchObject({ learners: 1, erased: 1 });
    expect(JSON.parse((await erase(s.url, '--json')).stdout).nothing).toBe(true);
  }, 240_000);

  it('file log + memory states (the defaults): offline erase refused while serving, done on the stopped folder; a restart replays without the student', async () => {
    const ev = classroomEvents(400);
    const dir = tmp('loflow-erase-files-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const pipeline = demoCopy(dir);
    const keyFile = join(dir, 'master.key');
    ensureMasterKeyFile(keyFile);
    const env = { LOFLOW_MASTER_KEY_FILE: keyFile };
    const data = join(dir, 'data');
    const log = join(dir, 'data', 'log');
    const args = ['--log', log, '--data', data, '--admin-token', ADMIN, '--demo', '--demo-tokens'];
    const s = await serveChild(args, env, pipeline);
    cleanup.push(() => s.stop());
    await send(s.url, [...ev.all, ev.invalid]);
    await processed(s.url, ev.all.length);
    await until(() => existsSync(join(data, 'writing-observer', 'archive', 'HEAD')));
    expect(filesContaining(data, needles).length).toBeGreaterThan(0);
    const offline = ['erase', ERASED, '--pipeline', pipeline, '--log', log, '--data', data];

    // While the server runs, the stores are its own: the CLI refuses to touch them and names it.
    const refused = await cli(offline, { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/a server \(process \d+\) runs 'writing-observer'.*--server/);
    // The admin route refuses what is not an admin's, and a malformed request.
    const post = (body: unknown, token?: string) => fetch(`${s.url}/v1/admin/erasures`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    expect((await post({ student: ERASED })).status).toBe(401);
    expect((await post({ student: ERASED }, 'demo-t-ada')).status).toBe(403);
    expect((await post({ student: 5 }, ADMIN)).status).toBe(400);
    expect((await post({ student: 'a|b' }, ADMIN)).status).toBe(400);
    await s.stop();

    // On the stopped folder, directly: the dry run lists, the real run erases, everywhere.
    const dry = JSON.parse((await cli([...offline, '--dry-run', '--json'], { env })).stdout);
    expect(dry.record.counts['input log events (file)']).toBe(ev.all.length - ev.without.length);
    expect(dry.record.counts['dead letters']).toBe(1);
    expect(filesContaining(data, needles).length).toBeGreaterThan(0);
    const done = await cli([...offline, '--by', 'dpo', '--reason', 'parent request'], { env });
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^erased 's-0001' \(pseudonym p:[0-9a-f]{24}\); receipt bafy/);
    expect(done.stdout).toMatch(/archive data keys destroyed: [1-9]/);
    expect(filesContaining(dir, needles, (p) => p.endsWith('.yaml') || p.includes('rosters'))).toEqual([]);
    // The audit log has the erasure with the receipt's CID, the student only as a pseudonym.
    const audit = readFileSync(join(data, 'writing-observer', 'audit', 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"action":"student.erase"');
    expect(audit).toContain(/receipt bafy\w+/.exec(done.stdout)![0].slice(8));

    // A restart rebuilds the memory store from the file log: the tombstones keep the student out.
    const again = await serveChild(args, env, pipeline);
    cleanup.push(() => again.stop());
    await processed(again.url, ev.all.length);
    const ref = await serveChild(['--demo', '--demo-tokens'], {}, pipeline);
    cleanup.push(() => ref.stop());
    await send(ref.url, ev.without);
    await processed(ref.url, ev.without.length);
    expect(await dashboard(again.url, 'class-b', 't-ada')).toEqual(await dashboard(ref.url, 'class-b', 't-ada'));
    // Erasing again through the live server finds nothing and says so.
    const twice = await erase(again.url);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(/^nothing of 's-0001' was left to erase/);
  }, 240_000);

  it('Redis Stream log (--checkpoint redis): erased entries become tombstones in the stream (none of their bytes in an RDB); a restart re-feeds over them', async () => {
    const ev = classroomEvents(300);
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const dir = tmp('loflow-erase-stream-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const pipeline = demoCopy(dir);
    const keyFile = join(dir, 'master.key');
    ensureMasterKeyFile(keyFile);
    const env = { LOFLOW_MASTER_KEY_FILE: keyFile };
    const args = ['--state', redis.url, '--checkpoint', 'redis', '--durability', 'none', '--data', join(dir, 'data'), '--admin-token', ADMIN, '--demo', '--demo-tokens'];
    const s = await serveChild(args, env, pipeline);
    cleanup.push(() => s.stop());
    await send(s.url, ev.all);
    await processed(s.url, ev.all.length);
    const done = await erase(s.url, '--json');
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout).record.counts['input log events (redis)']).toBe(ev.all.length - ev.without.length);
    expect(await redisHolds(redis)).toEqual([]);
    await s.stop();
    // The restarted server re-feeds the archive from the log (over the gaps) and serves the class without them.
    const again = await serveChild(args, env, pipeline);
    cleanup.push(() => again.stop());
    await processed(again.url, ev.all.length);
    const ref = await serveChild(['--demo', '--demo-tokens'], {}, pipeline);
    cleanup.push(() => ref.stop());
    await send(ref.url, ev.without);
    await processed(ref.url, ev.without.length);
    expect(await dashboard(again.url, 'class-b', 't-ada')).toEqual(await dashboard(ref.url, 'class-b', 't-ada'));
    expect(await redisHolds(redis)).toEqual([]);
    expect(filesContaining(dir, needles, (p) => p.endsWith('.yaml') || p.includes('rosters'))).toEqual([]);
  }, 240_000);
});

async function until(pred: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
