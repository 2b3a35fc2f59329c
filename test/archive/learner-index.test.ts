import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CID, encodeBlock } from '../../archive/blocks.js';
import { exportCar } from '../../archive/car.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { carSource, learnerEntries, readCommit, streamEntries, type BlockSource } from '../../archive/read.js';
import { openArchive } from '../../archive/replay-source.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { archivedRun, cli, tmp } from './helpers.js';

/** Count the blocks a reader fetches. */
function counting(src: BlockSource): BlockSource & { reads: Set<string> } {
  const reads = new Set<string>();
  return { ...src, reads, get: (cid) => (reads.add(cid.toString()), src.get(cid)) };
}

describe('per-learner index', () => {
  it('fetches one learner\'s events through the index without reading the other learners\' chunks', async () => {
    const run = await archivedRun({ batches: 6, students: 12, chunkEvents: 20 });
    const car = join(run.dir, '..', 'run.car');
    const { blocks } = await exportCar(new FolderBlockstore(run.dir), CID.parse(run.commits.at(-1)!), car);
    const student = (run.sent[0].event as any).auth.user_id as string;
    const expected = run.sent.filter((s) => s.stream === 'extension' && (s.event as any).auth.user_id === student).map((s) => s.event);

    const src = counting(await carSource(car));
    const commit = await readCommit(src);
    const mine = await learnerEntries(src, commit, 'extension', student);
    expect(mine.map((e) => e.e)).toEqual(expected);
    // commit + index + that learner's chain only, a small part of the archive.
    const chunks = Math.ceil(expected.length / 20);
    expect(src.reads.size).toBeLessThanOrEqual(2 + chunks + 2); // + a partly filled chunk per commit at most
    expect(src.reads.size).toBeLessThan(blocks / 5);
    await src.close();

    // The whole stream, rebuilt from the per-learner chains, is in its original order.
    const all = await carSource(car);
    const stream = await streamEntries(all, await readCommit(all), 'extension');
    expect(stream.map((e) => e.e)).toEqual(run.sent.filter((s) => s.stream === 'extension').map((s) => s.event));
    await all.close();

    // The CLI: NDJSON of that learner's events, from the folder's HEAD.
    const r = await cli(['archive', 'learner', student, '--dir', run.dir, '--stream', 'extension']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).event)).toEqual(expected);
    expect(r.stderr).toContain(`${expected.length} events of learner '${student}'`);
  });

  it('reads a format 1 archive (chunk chains per stream), and continues it in format 2 without losing its events', async () => {
    // A format 1 archive as the previous loflow wrote it: chunks chained per stream, the commit linking them.
    const dir = tmp();
    const store = new FolderBlockstore(dir);
    const ev = (i: number) => ({ event: 'x', n: i, auth: { user_id: `s-${i % 3}` } });
    const c1 = await encodeBlock({ type: 'loflow/chunk', stream: 's', prev: null, count: 2, events: [0, 1].map((i) => ({ o: i, t: i, e: ev(i) })) });
    const c2 = await encodeBlock({ type: 'loflow/chunk', stream: 's', prev: c1.cid, count: 2, events: [2, 3].map((i) => ({ o: i, t: i, e: ev(i) })) });
    const p = await encodeBlock({ type: 'loflow/pipeline', name: 'p', text: 'pipeline: p' });
    const commit = await encodeBlock({ type: 'loflow/commit', name: 'p', pipeline: p.cid, prev: null, time: 1, heads: { s: c2.cid }, counts: { s: 4 }, through: { s: 3 } });
    for (const b of [c1, c2, p, commit]) await store.put(b);
    await store.setHead(commit.cid);
    const v1car = join(dir, 'v1.car');
    await exportCar(store, commit.cid, v1car);
    const offsets = async (file: string) => {
      const out: number[] = [];
      for await (const e of (await openArchive(file)).events()) out.push(e.offset);
      return out;
    };
    expect(await offsets(v1car)).toEqual([0, 1, 2, 3]);

    const w = await ArchiveWriter.open(dir, { name: 'p', text: 'pipeline: p', sources: ['s'] }, 10);
    await w.append('s', [3, 4, 5].map((i) => ({ offset: i, stream: 's', event: ev(i), at: i })));
    const root = await w.commit();
    await w.close();
    const v2car = join(dir, 'v2.car');
    await exportCar(store, CID.parse(root), v2car);
    expect(await offsets(v2car)).toEqual([0, 1, 2, 3, 4, 5]);
    const src = await carSource(v2car);
    const c = await readCommit(src);
    expect(c.format).toBe(2);
    expect(c.counts.s).toBe(6);
    // Only events written in format 2 are in the learner chains.
    expect((await learnerEntries(src, c, 's', 's-1')).map((e) => e.o)).toEqual([4]);
    await src.close();
  });
});
