// Crypto-shredding a learner in an encrypted archive (docs/scale-out.md §10.3, the archive part of T13):
// through the writer thread as serve runs it; real folders, real CARs, the real engine for replays.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Classroom } from '../../engine/classroom.js';
import type { LoEvent, LoggedEvent } from '../../engine/types.js';
import { CID, decodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import type { CommitBlock, ErasureBlock, IndexBlock } from '../../archive/format.js';
import { ensureMasterKeyFile, FileDekStore, Keyring, learnerPseudonym, openKeyProvider } from '../../archive/keys/index.js';
import { WorkerArchiveSink } from '../../archive/worker-sink.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { allBytes, archivedRun, direct, replay, tmp } from './helpers.js';

const L = 's-0002';
const SENTENCE = 'My grandmother from Oaxaca taught me to bake bread on Sundays';

describe('erasing a learner from an encrypted archive', () => {
  it('shreds their chunks, records the erasure without the id, keeps the others byte-identical, replays stably', async () => {
    const base = tmp();
    const keyFile = join(base, 'master.key'); // outside the archive folder
    ensureMasterKeyFile(keyFile);
    const provider = (await openKeyProvider({ masterKeyFile: keyFile, env: {} }))!;
    const d = join(base, 'archive');
    const deks = FileDekStore.forArchive(d);
    const events = [...new Classroom({ students: 6, seed: 11 }).events(1500)].map((e) => e.event as LoEvent);
    const mine = events.find((e: any) => e.auth?.user_id === L && typeof e.partial_text === 'string') as any;
    mine.partial_text = SENTENCE;
    const run = await archivedRun({ dir: d, crypto: { provider, deks }, events, batches: 6, perBatch: 250 });
    const store = new FolderBlockstore(d);
    const oldRoot = (await store.head())!;
    const p = await learnerPseudonym(provider, L);
    const oldCommit = decodeBlock<CommitBlock>(await store.get(oldRoot));
    const oldIdx = decodeBlock<IndexBlock>(await store.get(oldCommit.heads.extension));
    expect(oldIdx.learners[p].count).toBeGreaterThan(0);
    const lKids = await deks.kids(`${p}:`);
    expect(lKids.length).toBeGreaterThan(0);

    // Erase through the writer thread, as a running server would.
    const sink = await WorkerArchiveSink.open(d, { name: run.pipeline.name, text: run.pipeline.text, sources: run.pipeline.sources.keys() }, { crypto: { masterKeyFile: keyFile } });
    const erased = await sink.erase({ learner: L, record: { by: 'privacy-officer', reason: 'parent request #12', req: 'r-1' } });
    const newRoot = CID.parse(await sink.commit());
    await sink.close();
    expect(erased.pseudonym).toBe(p);
    expect(erased.kids).toEqual(lKids);
    expect(erased.archivedEvents).toBeGreaterThan(0);
    expect(await deks.kids(`${p}:`)).toEqual([]);
    expect(await new Keyring(provider, deks, run.pipeline.name).find(lKids[0])).toBeUndefined();

    // The new root links the erasure record; the record names the pseudonym, never the id.
    const newCommit = decodeBlock<CommitBlock>(await store.get(newRoot));
    expect(newCommit.prev!.equals(oldRoot)).toBe(true);
    expect(newCommit.erasures!.map(String)).toEqual([erased.record]);
    const recBytes = await store.get(newCommit.erasures![0]);
    const rec = decodeBlock<ErasureBlock>(recBytes);
    expect(rec).toMatchObject({ type: 'loflow/erasure', pseudonym: p, by: 'privacy-officer', reason: 'parent request #12', req: 'r-1', kids: lKids });
    expect(Buffer.from(recBytes).includes(Buffer.from(L))).toBe(false);
    // The next index omits the learner; every other learner's chain is the same blocks as before.
    for (const s of Object.keys(newCommit.heads)) {
      const was = decodeBlock<IndexBlock>(await store.get(oldCommit.heads[s]));
      const now = decodeBlock<IndexBlock>(await store.get(newCommit.heads[s]));
      expect(now.learners[p]).toBeUndefined();
      const { [p]: _gone, ...others } = was.learners;
      expect(Object.keys(now.learners).sort()).toEqual(Object.keys(others).sort());
      for (const [k, v] of Object.entries(others)) expect(now.learners[k].head.equals(v.head)).toBe(true);
    }

    // Both roots verify without keys; replays of either give the same results, without the learner, every time.
    const keys = { provider, deks };
    const cars = [join(base, 'old.car'), join(base, 'new.car')];
    await exportCar(store, oldRoot, cars[0]);
    await exportCar(store, newRoot, cars[1]);
    for (const car of cars) expect((await verifyCar(car)).ok).toBe(true);
    const r1 = await replay(oldRoot.toString(), run.pipeline, { dir: d, keys });
    const r2 = await replay(oldRoot.toString(), run.pipeline, { dir: d, keys });
    const r3 = await replay(newRoot.toString(), run.pipeline, { dir: d, keys });
    expect(r1.cid).toBe(r2.cid);
    expect(r3.cid).toBe(r1.cid);
    expect(r1.archive.unreadable()).toMatchObject({ learners: 1, erased: 1, keyMissing: 0 });
    expect(r1.archive.unreadable().chains.every((c) => c.learner === p && c.reason === 'erased')).toBe(true);
    expect(r3.archive.unreadable().learners).toBe(0); // the new root does not reach the learner at all
    const withoutL = run.sent.filter((s) => (s.event as any).auth?.user_id !== L);
    expect(r1.results).toEqual(await direct(run.pipeline, withoutL));

    // No byte of the new CAR, and none of the archive folder, holds the id or the sentence they typed.
    for (const bytes of [readFileSync(cars[1]), allBytes(d)]) {
      expect(bytes.includes(Buffer.from(L))).toBe(false);
      expect(bytes.includes(Buffer.from(SENTENCE))).toBe(false);
    }
  });

  it('pending events are dropped, and a re-feed after a crash does not archive them again under a new key', async () => {
    const base = tmp();
    const provider = (await openKeyProvider({ env: { LOFLOW_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } }))!;
    const d = join(base, 'archive');
    const deks = FileDekStore.forArchive(d);
    const spec = { name: 'p', text: 'name: p\nkeys: { student: $.auth.user_id }\n', sources: ['extension'] };
    const ev = (o: number, who: string): LoggedEvent => ({ offset: o, at: Date.UTC(2026, 11, 2), stream: 'extension', event: { event: 'x', auth: { user_id: who }, text: who === L ? SENTENCE : 'hi' } });
    const batch = [ev(0, L), ev(1, 's-0001'), ev(2, L), ev(3, 's-0001')];
    const w = await ArchiveWriter.open(d, spec, 1000, { crypto: { provider, deks } });
    await w.append('extension', batch.slice(0, 2));
    await w.commit();
    await w.append('extension', batch.slice(2));
    const r = await w.erase({ learner: L, record: { by: 'dpo', reason: 'test', before: 3 } });
    expect(r).toMatchObject({ archivedEvents: 1, pendingDropped: 1 });
    await w.close(); // a crash: nothing committed after the erasure
    // The engine re-feeds from the archive's durable offset: L's event at offset 2 comes again.
    const w2 = await ArchiveWriter.open(d, spec, 1000, { crypto: { provider, deks } });
    await w2.append('extension', batch.slice(2));
    await w2.append('extension', [ev(4, L)]); // after the erase point: new data, a new chain and key
    const root = CID.parse(await w2.commit());
    await w2.close();
    expect(w2.erasedDropped).toBe(1);
    const c = decodeBlock<CommitBlock>(await new FolderBlockstore(d).get(root));
    expect(c.erasures!.length).toBe(1); // the record written before the crash is linked now
    const idx = decodeBlock<IndexBlock>(await new FolderBlockstore(d).get(c.heads.extension));
    const p = await learnerPseudonym(provider, L);
    expect(idx.learners[p].count).toBe(1); // only offset 4
    expect(idx.learners[p].head).toBeDefined();
    const { openArchive } = await import('../../archive/replay-source.js');
    const a = await openArchive(root.toString(), { dir: d, keys: { provider, deks } });
    const got: number[] = [];
    for await (const e of a.events()) got.push(e.offset);
    expect(got).toEqual([1, 3, 4]);
    // A plaintext archive cannot be shredded: refused with a reason.
    const plain = await ArchiveWriter.open(join(base, 'plain'), spec);
    await expect(plain.erase({ learner: L, record: { by: 'dpo', reason: 'x' } })).rejects.toThrow(/plaintext: it cannot be crypto-shredded/);
    await plain.close();
  });
});

describe('erasing through a running engine', () => {
  it('Engine.eraseFromArchive: the writer thread shreds the learner; their later events start a new chain under a new key', async () => {
    const { Engine } = await import('../../engine/runtime.js');
    const { demo } = await import('./helpers.js');
    const base = tmp();
    const keyFile = join(base, 'master.key');
    ensureMasterKeyFile(keyFile);
    const provider = (await openKeyProvider({ masterKeyFile: keyFile, env: {} }))!;
    const pipeline = await demo();
    const d = join(base, 'archive');
    const sink = await WorkerArchiveSink.open(d, { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() }, { crypto: { masterKeyFile: keyFile } });
    const engine = new Engine(pipeline, { archive: sink, batchSize: 128 });
    await engine.start();
    const events = [...new Classroom({ students: 4, seed: 3 }).events(800)].map((e) => e.event as LoEvent);
    await engine.ingest('extension', events.slice(0, 400), 1000);
    await engine.flush();
    await sink.commit(); // the learner's first chunks (and keys) are written
    const oldRoot = (await new FolderBlockstore(d).head())!;
    const r = await engine.eraseFromArchive({ learner: L, record: { by: 'dpo', reason: 'request', before: 400 } });
    expect(r.kids.length).toBeGreaterThan(0);
    await engine.ingest('extension', events.slice(400), 2000);
    await engine.flush();
    await engine.stop();
    const deks = FileDekStore.forArchive(d);
    const p = await learnerPseudonym(provider, L);
    const later = events.slice(400).filter((e: any) => e.auth?.user_id === L).length;
    expect(later).toBeGreaterThan(0);
    const store = new FolderBlockstore(d);
    const c = decodeBlock<CommitBlock>(await store.get((await store.head())!));
    const idx = decodeBlock<IndexBlock>(await store.get(c.heads.extension));
    expect(idx.learners[p].count).toBe(later); // only what came after the erase point
    // The learner came back in the same month: a new key under the same kid. Their old chunks stay shredded:
    // reading the old root skips them as erased (not a decryption error), and the new root reads their new events.
    const { openArchive } = await import('../../archive/replay-source.js');
    for (const [root, unreadable, mine] of [[oldRoot.toString(), 1, 0], [String(await store.head()), 0, later]] as const) {
      const a = await openArchive(root, { dir: d, keys: { provider, deks } });
      let n = 0;
      for await (const e of a.events(['extension'])) if ((e.event as any).auth?.user_id === L) n++;
      expect(n).toBe(mine);
      expect(a.unreadable()).toMatchObject({ learners: unreadable, keyMissing: 0 });
    }
    const rec = c.erasures?.length ? c.erasures : decodeBlock<CommitBlock>(await store.get(c.prev!)).erasures;
    expect(rec?.map(String)).toContain(r.record);
  });
});
