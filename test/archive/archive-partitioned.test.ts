// T10 (docs/scale-out.md §11, §14 step 8): the archive of a partitioned pipeline. One process, P = 4:
// each partition's chains and loflow/part block, one format 3 commit linking the 4 parts, `archive verify`
// on its CAR, every raw event exactly once, and a replay whose result CID is the P = 1 run's. Across two
// `serve --role worker` processes on a real Redis: one SIGKILLed mid-run, the survivor takes over its
// partitions and re-feeds their archive from the published part.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openArchiveSink } from '../../archive/open.js';
import { describe, expect, inject, it } from 'vitest';
import { CID, decodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { exportCar } from '../../archive/car.js';
import type { CommitBlock, PartBlock } from '../../archive/format.js';
import { PartitionedArchive } from '../../archive/partitioned-sink.js';
import { openArchive } from '../../archive/replay-source.js';
import { resultCid } from '../../archive/result-cid.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent } from '../../engine/types.js';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { assign } from '../../engine/cluster/assignment.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, leases, partitionedDemo, signal, startWorker, until, type WorkerChild } from '../cluster/worker-fixture.js';
import { feedAndDrain } from '../cli/cluster-fixture.js';
import { serveChild } from '../hardening/serve-child.js';
import { cli, demo, demoFile, demoOn, direct, replay, tmp, type ArchivedRun } from './helpers.js';

export async function partitionedRun(dir: string, pipeline: CompiledPipeline, events: LoEvent[], firstBatch = 0): Promise<ArchivedRun['sent']> {
  const archive = await PartitionedArchive.open(pipeline, dir, { chunkEvents: 100, timer: false });
  const engine = new Engine(pipeline, { archive, batchSize: 128 });
  const sent: ArchivedRun['sent'] = [];
  const per = 250;
  for (let k = 0; k * per < events.length; k++) {
    const stream = (firstBatch + k) % 3 === 2 ? 'batch' : 'extension';
    const at = (firstBatch + k + 1) * 1000;
    const batch = events.slice(k * per, (k + 1) * per);
    await engine.ingest(stream, batch, at);
    await engine.flush();
    for (const event of batch) sent.push({ stream, event, at });
    if ((k + 1) % 3 === 0) await archive.commit();
  }
  await engine.stop(); // each part commits and closes; then the last global commit
  return sent;
}

/** JSON with sorted keys: the archive's DAG-CBOR gives events back with their keys sorted. */
const canon = (v: unknown): string => (Array.isArray(v) ? `[${v.map(canon).join(',')}]` : v && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}` : JSON.stringify(v));
const key = (s: { stream: string; event: unknown; at: number }) => `${s.stream}|${s.at}|${canon(s.event)}`;

describe('archive of a partitioned pipeline (T10)', () => {
  it('P = 4 in one process: one commit links 4 parts, verify passes, every raw event once, replay = P = 1', async () => {
    const dir = join(tmp(), 'archive');
    const four = await demoOn(4);
    const events = [...new Classroom({ students: 16, seed: 7 }).events(2000)].map((e) => e.event as LoEvent);
    const sent = await partitionedRun(dir, four, events);

    const store = new FolderBlockstore(dir);
    const head = (await store.head())!;
    const commit = decodeBlock<CommitBlock>(await store.get(head));
    expect(commit).toMatchObject({ type: 'loflow/commit', format: 3, partitioning: { count: 4, by: 'student', hash: 'fnv1a32' }, crypto: null, heads: {} });
    expect(commit.parts).toHaveLength(4);
    let raw = 0;
    for (const [n, cid] of commit.parts!.entries()) {
      const part = decodeBlock<PartBlock>(await store.get(cid!));
      expect(part).toMatchObject({ type: 'loflow/part', partition: n, erasures: [] });
      expect(part.prev).not.toBeNull(); // three timed commits and the last: a history per partition
      raw += (part.counts.extension ?? 0) + (part.counts.batch ?? 0);
    }
    expect(raw).toBe(sent.length);
    expect(commit.counts.extension + commit.counts.batch).toBe(sent.length);
    expect(commit.counts.burst).toBeGreaterThan(0); // the archived derived stream, per partition too

    // The CAR of the commit: every block hashes to its CID, the DAG is complete, nothing unlinked.
    const car = join(tmp(), 'p4.car');
    await exportCar(store, head, car);
    const verified = await cli(['archive', 'verify', car]);
    expect(verified.code, verified.stderr).toBe(0);

    // Every raw event exactly once (as a multiset: no gap, no double), and each partition's order kept.
    const opened = await openArchive(car);
    const got: ArchivedRun['sent'] = [];
    for await (const e of opened.events(['extension', 'batch'])) got.push({ stream: e.stream, event: e.event, at: e.at });
    expect(got.map(key).sort()).toEqual(sent.map(key).sort());

    // Replay of the partitioned archive (on 4 partitions, and on one) = the P = 1 run of the same events.
    const single = await direct(await demo(), sent);
    const want = await resultCid(single);
    expect((await replay(car, four)).cid).toBe(want);
    expect((await replay(car, await demo())).cid).toBe(want);

    // `archive log` names the parts; the CLI replay of the CAR prints the same result CID.
    const log = await cli(['archive', 'log', '--dir', dir]);
    expect(log.stdout).toMatch(/Parts: 4 of 4 \(by student\)/);
    const ls = await cli(['archive', 'ls', '--dir', dir]);
    expect(ls.stdout).toMatch(/^extension +\d+ events {2}in 4 of 4 parts$/m);
    // One learner's events through their partition's index (the other parts have no chain of theirs).
    const who = (events[0] as { auth: { user_id: string } }).auth.user_id;
    const mine = await cli(['archive', 'learner', who, '--dir', dir, '--stream', 'extension'], { env: { LOFLOW_AUDIT: join(tmp(), 'audit') } });
    expect(mine.code, mine.stderr).toBe(0);
    const lines = mine.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: { auth: { user_id: string } } });
    expect(lines.length).toBe(sent.filter((x) => x.stream === 'extension' && (x.event as { auth: { user_id: string } }).auth.user_id === who).length);
    expect(lines.every((l) => l.event.auth.user_id === who)).toBe(true);
    const cliReplay = await cli(['replay', demoFile, car, '--no-log']);
    expect(cliReplay.code, cliReplay.stderr).toBe(0);
    expect(cliReplay.stderr).toContain(`result CID ${want}`);
  }, 180_000);

  it('reopened, each partition continues from its part; the wrong P or an unpartitioned folder is refused', async () => {
    const dir = join(tmp(), 'archive');
    const four = await demoOn(4);
    const events = [...new Classroom({ students: 12, seed: 3 }).events(750)].map((e) => e.event as LoEvent);
    await partitionedRun(dir, four, events);
    const store = new FolderBlockstore(dir);
    const head1 = (await store.head())!;
    const c1 = decodeBlock<CommitBlock>(await store.get(head1));
    // A second process (a memory log restarts its offsets, so events go straight to a part writer here):
    // partition 2's writer continues at its part, the others keep theirs.
    const again = await PartitionedArchive.open(four, dir, { timer: false });
    const p2 = decodeBlock<PartBlock>(await store.get(c1.parts![2]!));
    const next = p2.through.extension + 1;
    await again.forPartition(2).append('extension', [{ offset: next - 1, at: 99_000, stream: 'extension', event: events[0] }, { offset: next, at: 99_000, stream: 'extension', event: events[1] }]);
    await again.close();
    const head2 = (await store.head())!;
    const c2 = decodeBlock<CommitBlock>(await store.get(head2));
    expect(c2.prev?.toString()).toBe(head1.toString());
    for (const n of [0, 1, 3]) expect(c2.parts![n]!.toString()).toBe(c1.parts![n]!.toString());
    const p2b = decodeBlock<PartBlock>(await store.get(c2.parts![2]!));
    expect(p2b.prev?.toString()).toBe(c1.parts![2]!.toString());
    expect(p2b.counts.extension).toBe(p2.counts.extension + 1); // the offset it had already was a re-send
    expect(c2.counts.extension).toBe(c1.counts.extension + 1);

    await expect(PartitionedArchive.open(await demoOn(8), dir, { timer: false })).rejects.toThrow(/written with partitions.count 4 by student, not 8 by student: a new archive folder is needed/);
    await expect(ArchiveWriter.open(dir, { name: four.name, text: four.text })).rejects.toThrow(/holds a partitioned history \(format 3 parts\)/);
    // Encrypted parts are not built: a configured master key is refused, not ignored.
    const keyFile = join(tmp(), 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
    await expect(openArchiveSink(four, join(tmp(), 'archive'), { crypto: { masterKeyFile: keyFile } })).rejects.toThrow(/an encrypted archive of a partitioned pipeline \(partitions.count 4\) is not built yet/);
    const plain = join(tmp(), 'archive');
    const w = await ArchiveWriter.open(plain, { name: four.name, text: four.text });
    await w.append('extension', [{ offset: 0, at: 1, stream: 'extension', event: events[0] }]);
    await w.commit();
    await w.close();
    await expect(PartitionedArchive.open(four, plain, { timer: false })).rejects.toThrow(/holds an unpartitioned history \(format 2\); a pipeline with partitions.count 4 needs a new archive folder/);
  }, 180_000);
});

describe('serve --role all, P = 4, with an archive', () => {
  it('archives per partition through the CLI: 4 parts, every event once, the exported CAR verifies', async () => {
    const name = `as${Date.now().toString(36)}`;
    const { file } = await partitionedDemo(name, 4, { archive: true });
    const dir = join(tmp(), 'archive');
    const events = classroomEvents(1200, 4, 20);
    const s = await serveChild(['--state', inject('redisUrl'), '--checkpoint', 'redis', '--durability', 'none', '--archive', dir], {}, file);
    try {
      await feedAndDrain(s, events);
    } finally {
      await s.stop(); // graceful: every part committed, then the global commit
    }
    const store = new FolderBlockstore(dir);
    const commit = decodeBlock<CommitBlock>(await store.get((await store.head())!));
    expect(commit.parts!.every(Boolean)).toBe(true);
    expect((commit.counts.extension ?? 0) + (commit.counts.batch ?? 0)).toBe(events.length);
    const car = join(tmp(), 'serve.car');
    const exported = await cli(['archive', 'export', '--dir', dir, '--out', car]);
    expect(exported.code, exported.stderr).toBe(0);
    const verified = await cli(['archive', 'verify', car]);
    expect(verified.code, verified.stderr).toBe(0);
    const got: string[] = [];
    for await (const e of (await openArchive(car)).events(['extension', 'batch'])) got.push(canon(e.event));
    expect(got.sort()).toEqual(events.map(canon).sort());
  }, 180_000);
});

describe('archive of a partitioned pipeline across workers (T10, Redis)', () => {
  it.each([
    ['one redis-server', 'redisUrl'],
    ['a 3-node Redis Cluster', 'redisClusterUrl'],
  ] as const)('on %s: 2 workers, one SIGKILLed mid-run: the survivor re-feeds from the published part; every raw event once, verify passes', async (_, which) => {
    const P = 4;
    const name = `ar${Date.now().toString(36)}`;
    const { file, pipeline, single } = await partitionedDemo(name, P, { archive: true });
    const url = inject(which);
    const data = tmp('loflow-arch-workers-');
    const dir = join(data, name, 'archive');
    const store = await RedisStateStore.connect(url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const events = classroomEvents(4000, 5, 40);
    const workers: WorkerChild[] = [];
    const append = async (from: number, to: number) => {
      for (let i = from; i < to; i += 200) await appender.append('extension', events.slice(i, Math.min(to, i + 200)), { id: 'test', seq: i });
    };
    const committed = async () => (await leases(store, name, P)).reduce((n, l) => n + l.committed, 0);
    try {
      workers.push(await startWorker(file, url, data), await startWorker(file, url, data));
      await append(0, 1500);
      // Both hold partitions and have published parts (commit_every 1s) before the kill.
      await until('1,500 committed, every part published', async () => (await committed()) === 1500 && (await Promise.all(Array.from({ length: P }, (_, n) => store.redis.hget(`lf:{${name}:p${n}}:arch`, 'head')))).every(Boolean), 90_000);
      const appending = append(1500, 4000);
      await until('more appended', async () => (await committed()) > 2200, 90_000, 20);
      // The holders settled on the rendezvous table; the victim is a worker holding partitions (HRW may give
      // one worker all of them: then the other takes them all over).
      const table = assign(workers.map((w) => w.id), P);
      await until('holders = the rendezvous table', async () => (await leases(store, name, P)).every((l, n) => l.owner === table[n]), 90_000);
      const [victim, survivor] = table.includes(workers[1].id) ? [workers[1], workers[0]] : [workers[0], workers[1]];
      const theirs = table.flatMap((o, n) => (o === victim.id ? [n] : []));
      expect(theirs.length).toBeGreaterThan(0);
      // Raw events the victim committed past its last published part: what the survivor must re-feed.
      const cur = await leases(store, name, P);
      const pub = await Promise.all(theirs.map((n) => store.redis.hget(`lf:{${name}:p${n}}:arch`, 'through')));
      const unpublished = theirs.reduce((sum, n, k) => sum + cur[n].committed - ((JSON.parse(pub[k] ?? '{}') as Record<string, number>).extension ?? -1) - 1, 0);
      await signal(victim, 'SIGKILL'); // its unpublished chunks and part stay unlinked; its log is kept past the published part
      await appending;
      await until('the survivor holds all and committed 4,000', async () => (await leases(store, name, P)).every((l) => l.owner === survivor.id) && (await committed()) === 4000, 90_000);
      // Taken over (a new epoch), not released: the survivor opened each at its published part.
      // (The leases can show it before its log line is out: a partition with nothing left to process is
      // counted as committed already.)
      const tookOver = (n: number) => new RegExp(`p${n} acquired \\(epoch [2-9]`).test(survivor.out());
      await until('the survivor says it took each over', () => theirs.every(tookOver), 30_000);
      for (const n of theirs) expect(survivor.out()).toMatch(new RegExp(`p${n} acquired \\(epoch [2-9]`));
      // gc while a worker writes parts: refused (its chunks are unlinked until its next published part).
      const gcWhile = await cli(['archive', 'gc', '--dir', dir]);
      expect([gcWhile.code, gcWhile.stderr]).toEqual([1, expect.stringMatching(/in use by worker process \d+ \(its LOCK\.\d+ file\)/)]);
      await signal(survivor, 'SIGTERM'); // graceful: last parts published, last global commit
      expect(survivor.out()).not.toMatch(/FENCED|archive .*failed/);

      const folder = new FolderBlockstore(dir);
      const head = (await folder.head())!;
      expect(await store.redis.get(`lf:{${name}}:head`)).toBe(head.toString());
      const commit = decodeBlock<CommitBlock>(await folder.get(head));
      const published = await Promise.all(Array.from({ length: P }, (_, n) => store.redis.hget(`lf:{${name}:p${n}}:arch`, 'head')));
      expect(commit.parts!.map(String)).toEqual(published);
      const car = join(data, 'workers.car');
      await exportCar(folder, head, car);
      const verified = await cli(['archive', 'verify', car]);
      expect(verified.code, verified.stderr).toBe(0);

      // Every raw event exactly once: no gap where the victim died, no double from the re-feed.
      const opened = await openArchive(car);
      const got: ArchivedRun['sent'] = [];
      for await (const e of opened.events(['extension'])) got.push({ stream: e.stream, event: e.event, at: e.at });
      expect(got.length).toBe(4000);
      console.log(`T10 ${which}: ${unpublished} raw events committed but unpublished at the SIGKILL (re-fed by the survivor)`);
      expect(got.map((g) => canon(g.event)).sort()).toEqual(events.map(canon).sort());
      // And replay gives the single-process result of the same events at the arrival times archived.
      const atOf = new Map(got.map((g) => [canon(g.event), g.at]));
      const sent = events.map((event) => ({ stream: 'extension', event, at: atOf.get(canon(event))! }));
      expect((await replay(car, pipeline)).cid).toBe(await resultCid(await direct(single, sent)));
    } finally {
      for (const w of workers) await signal(w, 'SIGKILL');
      await appender.close();
      await store.close();
    }
  }, 300_000);
});
