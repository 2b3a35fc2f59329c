// The archive writer in a worker thread (archive/worker-sink.ts): the same archive as the in-thread writer,
// ops in call order, durable offsets only after a durable commit, errors and a crashed thread reported.
import { describe, expect, it, vi } from 'vitest';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { ArchiveSink, LoEvent, LoggedEvent } from '../../engine/types.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { decodeBlock } from '../../archive/blocks.js';
import type { CommitBlock } from '../../archive/format.js';
import { acquireLock } from '../../archive/lock.js';
import { archiveThread, openArchiveSink } from '../../archive/open.js';
import { WorkerArchiveSink } from '../../archive/worker-sink.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { demo, tmp } from './helpers.js';

const spec = { name: 'p', text: 'pipeline: p\nkeys:\n  student: $.auth.user_id\n', sources: ['s'] };

/** Raw events of stream s (offsets from `from`) and a derived stream d whose events share their origins' offsets. */
function batches(from: number, n: number): Array<[string, LoggedEvent[]]> {
  const raw: LoggedEvent[] = [];
  const derived: LoggedEvent[] = [];
  for (let i = 0; i < n; i++) {
    const o = from + i;
    const event = { auth: { user_id: `u${o % 7}` }, n: o, text: 'é'.repeat(o % 5), nested: { a: [o, null, true] } } as LoEvent;
    raw.push({ offset: o, stream: 's', event, at: 1000 + o });
    if (o % 3 === 0) derived.push({ offset: o, stream: 'd', event: { auth: { user_id: `u${o % 7}` }, burst: o / 3 } as LoEvent, at: 1000 + o });
  }
  return [['s', raw], ['d', derived]];
}

/** Values JSON and DAG-CBOR map alike (undefined, NaN, -0), one JSON cannot carry (a BigInt), no learner. */
const odd: LoggedEvent[] = [
  { offset: 1000, stream: 's', at: 5, event: { auth: { user_id: 'u1' }, gone: undefined, list: [undefined, 1], nan: NaN, inf: -Infinity, zero: -0 } as unknown as LoEvent },
  { offset: 1001, stream: 's', at: 6, event: { auth: { user_id: 'u2' }, big: 12345678901234567890n } as unknown as LoEvent },
  { offset: 1002, stream: 's', at: 7, event: { no_learner: 'x\ud800y' } as LoEvent },
];

async function feed(sink: ArchiveSink & { commit(o?: { time?: number }): Promise<string> }): Promise<string[]> {
  const cids: string[] = [];
  let offset = 0;
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < 4; k++) {
      for (const [s, l] of batches(offset, 37)) await sink.append(s, l);
      offset += 37;
    }
    cids.push(await sink.commit({ time: 1_700_000_000_000 + round }));
  }
  await sink.append('s', odd);
  cids.push(await sink.commit({ time: 1_800_000_000_000 }));
  return cids;
}

describe('archive writer in a worker thread', () => {
  it('writes the same blocks and commit CIDs as the in-thread writer, and continues an archive the same way', async () => {
    const [a, b] = [join(tmp(), 'a'), join(tmp(), 'b')];
    const inThread = await ArchiveWriter.open(a, spec, 10);
    const worker = await WorkerArchiveSink.open(b, spec, { chunkEvents: 10 });
    const [x, y] = [await feed(inThread), await feed(worker)];
    expect(y).toEqual(x);
    expect(worker.durableOffset()).toBe(inThread.durableOffset());
    expect(worker.durableThrough('d')).toBe(inThread.durableThrough('d'));
    await Promise.all([inThread.close(), worker.close()]);
    expect(readdirSync(join(b, 'blocks')).sort()).toEqual(readdirSync(join(a, 'blocks')).sort());
    expect((await new FolderBlockstore(b).head())!.toString()).toBe(x.at(-1));

    // Reopened, each resumes from HEAD: the same durable offsets, and the same next commit.
    const again = [await ArchiveWriter.open(a, spec, 10), await WorkerArchiveSink.open(b, spec, { chunkEvents: 10 })] as const;
    expect(again[1].durableOffset()).toBe(again[0].durableOffset());
    expect(again[1].durableThrough('s')).toBe(1002);
    expect(again[1].durableThrough('d')).toBe(again[0].durableThrough('d'));
    for (const w of again) for (const [s, l] of batches(2000, 25)) await w.append(s, l);
    const next = await Promise.all(again.map((w) => w.commit({ time: 1_900_000_000_000 })));
    expect(next[1]).toBe(next[0]);
    await Promise.all(again.map((w) => w.close()));
  });

  it('applies appends in call order, and reports durable offsets only once a commit is durable', async () => {
    const dir = join(tmp(), 'a');
    const sink = await WorkerArchiveSink.open(dir, spec, { chunkEvents: 5 });
    expect(sink.durableOffset()).toBe(-1);
    // Not awaited one by one: the ops of one tick go to the thread together and must keep their order.
    const [first, second] = [batches(0, 40), batches(40, 40)];
    const appended = [...first, ...second].map(([s, l]) => sink.append(s, l));
    // A re-sent batch (offsets already archived) is skipped, as by the in-thread writer.
    appended.push(sink.append('s', first[0][1]));
    const commit = sink.commit({ time: 1 });
    await Promise.all(appended);
    const cid = await commit;
    expect(sink.durableOffset()).toBe(79);
    expect(sink.durableThrough('d')).toBe(78);
    expect(sink.durableThrough('nothing')).toBe(-1);
    const store = new FolderBlockstore(dir);
    const head = decodeBlock<CommitBlock>(await store.get((await store.head())!));
    expect((await store.head())!.toString()).toBe(cid);
    expect(head.counts).toEqual({ s: 80, d: 27 });
    // Appended after the commit: in the writer, not yet durable.
    await sink.append('s', batches(80, 10)[0][1]);
    expect(sink.durableOffset()).toBe(79);
    await sink.commit();
    expect(sink.durableOffset()).toBe(89);
    await sink.close();
  });

  it('rejects a failing append with the writer\'s error, then takes nothing more until reopened (no gap)', async () => {
    const dir = join(tmp(), 'a');
    // One event a chunk: every append writes blocks.
    const sink = await WorkerArchiveSink.open(dir, spec, { chunkEvents: 1 });
    await sink.append('s', batches(0, 3)[0][1]);
    // blocks/ replaced by a file: every block write fails (also as root).
    rmSync(join(dir, 'blocks'), { recursive: true });
    writeFileSync(join(dir, 'blocks'), '');
    await expect(sink.append('s', batches(3, 10)[0][1])).rejects.toThrow(/ENOTDIR.*blocks/);
    await expect(sink.commit()).rejects.toThrow(/ENOTDIR.*blocks/);
    expect(sink.durableOffset()).toBe(-1);
    rmSync(join(dir, 'blocks'));
    await new FolderBlockstore(dir).sync(); // recreates blocks/
    // The cause is gone, but events 3-12 were missed: taking 13-14 would leave a gap a commit makes durable.
    await expect(sink.append('s', batches(13, 2)[0][1])).rejects.toThrow(/stopped after a failed append \(ENOTDIR/);
    await expect(sink.commit()).rejects.toThrow(/stopped after a failed append/);
    expect(sink.durableOffset()).toBe(-1);
    await sink.close();
    // Reopened, the writer continues from its last commit (none): the caller re-sends from there.
    const again = await WorkerArchiveSink.open(dir, spec, { chunkEvents: 1 });
    expect(again.durableOffset()).toBe(-1);
    await again.append('s', batches(0, 15)[0][1]);
    await again.commit();
    expect(again.durableOffset()).toBe(14);
    await again.close();
  });

  it('a crashed thread fails every pending and later call with a clear error; close releases the folder lock', async () => {
    const dir = join(tmp(), 'a');
    // A small heap and chunks that never fill: the events pile up in the thread until it runs out of memory.
    const sink = await WorkerArchiveSink.open(dir, spec, { chunkEvents: 1e9, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
    await sink.append('s', batches(0, 10)[0][1]);
    await sink.commit();
    expect(sink.durableOffset()).toBe(9);
    const pad = 'x'.repeat(1 << 16);
    const pending: Array<Promise<unknown>> = [];
    for (let k = 0; k < 40; k++) {
      const l = Array.from({ length: 64 }, (_, i): LoggedEvent => ({ offset: 10 + k * 64 + i, stream: 's', at: 0, event: { auth: { user_id: `u${i}` }, pad: pad + i } as LoEvent }));
      pending.push(sink.append('s', l));
    }
    const settled = await Promise.allSettled(pending);
    const errors = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => /the archive writer thread (crashed|exited)/.test(e))).toBe(true);
    await expect(sink.append('s', batches(9999, 1)[0][1])).rejects.toThrow(/the archive writer thread (crashed|exited)/);
    await expect(sink.commit()).rejects.toThrow(/the archive writer thread (crashed|exited)/);
    expect(sink.durableOffset()).toBe(9); // what the last durable commit held, nothing more
    expect(() => acquireLock(dir, { exclusive: true })).toThrow(/writer open in this process/);
    await sink.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    acquireLock(dir, { exclusive: true })();
  });

  it('holds the folder lock in the opening thread too, and refuses a second process-wide exclusive user', async () => {
    const dir = join(tmp(), 'a');
    const sink = await WorkerArchiveSink.open(dir, spec);
    expect(existsSync(join(dir, 'LOCK'))).toBe(true);
    expect(() => acquireLock(dir, { exclusive: true })).toThrow(/writer open in this process/);
    await sink.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    await expect(sink.append('s', [])).rejects.toThrow(/closed/);
    // An open that fails (a foreign HEAD) leaves no lock behind.
    writeFileSync(join(dir, 'HEAD'), 'not a cid\n');
    await expect(WorkerArchiveSink.open(dir, spec)).rejects.toThrow(/does not hold a CID/);
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('openArchiveSink: an engine archives the same streams through the thread as in-thread; the commit timer commits', async () => {
    const pipeline = await demo();
    const events = [...new Classroom({ students: 9, seed: 3 }).events(1200)].map((e) => e.event as LoEvent);
    const heads: Array<CommitBlock['heads']> = [];
    for (const thread of ['main', 'worker'] as const) {
      const dir = join(tmp(), thread);
      const archive = (await openArchiveSink(pipeline, dir, { thread }))!;
      const engine = new Engine(pipeline, { archive, batchSize: 128 });
      for (let k = 0; k < 4; k++) {
        await engine.ingest(k % 2 ? 'batch' : 'extension', events.slice(k * 300, (k + 1) * 300), (k + 1) * 1000);
        await engine.flush();
      }
      await engine.stop(); // commits and closes the archive
      const store = new FolderBlockstore(dir);
      const c = decodeBlock<CommitBlock>(await store.get((await store.head())!));
      expect(c.counts.extension + c.counts.batch).toBe(1200);
      heads.push(c.heads);
      expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    }
    // Index blocks hold no time: the same appends give the same stream heads.
    expect(String(Object.entries(heads[1]))).toBe(String(Object.entries(heads[0])));

    // commit_every: the timer commits what was appended, with no explicit commit.
    const dir = join(tmp(), 'timer');
    const archive = (await openArchiveSink({ ...pipeline, archive: { ...pipeline.archive!, commitEveryMs: 20 } }, dir, { thread: 'worker' }))!;
    await archive.append('extension', [{ offset: 0, stream: 'extension', at: 1, event: events[0] }]);
    await vi.waitFor(() => expect(archive.durableOffset()).toBe(0), { timeout: 10_000, interval: 20 });
    await archive.close();
  });

  it('LOFLOW_ARCHIVE_THREAD picks the thread', () => {
    expect(archiveThread(undefined)).toBe('worker');
    expect(archiveThread('main')).toBe('main');
    expect(() => archiveThread('other')).toThrow(/LOFLOW_ARCHIVE_THREAD/);
  });
});
