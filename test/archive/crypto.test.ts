// Encrypted archives (format 3, docs/scale-out.md §10.2, T12): real folders, real CARs, the real engine.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CID, decodeBlock, encodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import { decryptChunk, encryptChunk } from '../../archive/chunk-crypto.js';
import type { ChunkBlock, CommitBlock, IndexBlock } from '../../archive/format.js';
import { FileDekStore, Keyring, LocalKeyProvider, learnerPseudonym } from '../../archive/keys/index.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { folderSource, readBlock, streamEntries } from '../../archive/read.js';
import { ReaderKeys } from '../../archive/reader-keys.js';
import { allBytes, archivedRun, demo, direct, replay, tmp } from './helpers.js';

const newProvider = () => new LocalKeyProvider(randomBytes(32));

describe('encrypted archive (format 3)', () => {
  it('round trip: replay with keys equals the live run; the folder and CAR hold no learner id; verify needs no keys', async () => {
    const provider = newProvider();
    const d = join(tmp(), 'archive');
    const deks = FileDekStore.forArchive(d);
    const run = await archivedRun({ dir: d, crypto: { provider, deks }, batches: 6, perBatch: 200, students: 6 });
    const store = new FolderBlockstore(d);
    const head = (await store.head())!;
    const commit = decodeBlock<CommitBlock>(await store.get(head));
    expect(commit.format).toBe(3);
    expect(commit.crypto).toEqual({ alg: 'A256GCM', pseudonym: 'hmac-sha256', provider: provider.id });
    const idx = decodeBlock<IndexBlock>(await store.get(commit.heads.extension));
    const ids = [...new Set(run.sent.map((s) => (s.event as any).auth.user_id as string))];
    expect(Object.keys(idx.learners).sort()).toEqual((await Promise.all(ids.map((id) => learnerPseudonym(provider, id)))).sort());
    // Replay with keys: the same results as feeding the events directly.
    const keys = { provider, deks };
    const r = await replay(head.toString(), run.pipeline, { dir: d, keys });
    expect(r.results).toEqual(await direct(run.pipeline, run.sent));
    // Without keys: a clear refusal.
    await expect(replay(head.toString(), run.pipeline, { dir: d })).rejects.toThrow(/encrypted archive.*master key/);
    // Blocks hash the ciphertext: a CAR exports and verifies without any key.
    const car = join(tmp(), 'x.car');
    await exportCar(store, head, car);
    const v = await verifyCar(car);
    expect(v.ok).toBe(true);
    expect(v.unreachable).toEqual([]);
    // No learner id in any byte of the archive folder or the CAR (ids also occur inside doc ids and URLs).
    for (const bytes of [allBytes(d), readFileSync(car)]) for (const id of ids) expect(bytes.includes(Buffer.from(id))).toBe(false);
  });

  it('tampered ciphertext or header fails decryption with a clear error; the same chunk gives the same CID', async () => {
    const provider = newProvider();
    const ring = new Keyring(provider, FileDekStore.forArchive(tmp()), 'pl');
    const kid = `${await learnerPseudonym(provider, 's-1')}:2026-12`;
    const dek = await ring.get(kid);
    const h = { stream: 'extension', learner: kid.split(':')[0], prev: null, count: 1, month: '2026-12', kid };
    const plain = { learner: 's-1', events: [{ o: 3, t: 1764547200000, e: { event: 'x', text: 'hello' }, i: 0 }] };
    const a = await encodeBlock(encryptChunk(dek, h, plain));
    const b = await encodeBlock(encryptChunk(dek, h, plain));
    expect(a.cid.equals(b.cid)).toBe(true); // synthetic IV: deterministic
    const chunk = decodeBlock<ChunkBlock>(a.bytes);
    expect(decryptChunk(dek, chunk).events[0].e).toEqual(plain.events[0].e);
    const ct = new Uint8Array(chunk.enc!.ct);
    ct[0] ^= 1;
    expect(() => decryptChunk(dek, { ...chunk, enc: { ...chunk.enc!, ct } })).toThrow(/does not decrypt: its ciphertext or its header/);
    expect(() => decryptChunk(dek, { ...chunk, stream: 'batch' })).toThrow(/does not decrypt/);
    expect(() => decryptChunk(dek, { ...chunk, prev: a.cid })).toThrow(/does not decrypt/);
    expect(() => decryptChunk(dek, { ...chunk, count: 2 })).toThrow(/does not decrypt/);
    const other = await ring.get(`${kid.split(':')[0]}:2026-11`);
    expect(() => decryptChunk(other, chunk)).toThrow(/does not decrypt/);
  });

  it('a crash re-feed writes the same chunk CIDs (synthetic IV), and chunks never span months', async () => {
    const provider = newProvider();
    const pipeline = await demo();
    const spec = { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() };
    const nov30 = Date.UTC(2026, 10, 30, 23, 59);
    const dec1 = Date.UTC(2026, 11, 1, 0, 1);
    const ev = (i: number, at: number) => ({ offset: i, at, stream: 'extension', event: { event: 'keystroke', auth: { user_id: 's-7' }, n: i } });
    const events = [ev(0, nov30), ev(1, nov30), ev(2, dec1), ev(3, dec1), ev(4, dec1)];
    const sharedDeks = FileDekStore.forArchive(tmp());
    const heads: string[] = [];
    for (const n of [0, 1]) {
      const d = join(tmp(), `a${n}`);
      // Both writers share one key store (as a restarted writer does): same keys, same bytes.
      const w = await ArchiveWriter.open(d, spec, 1000, { crypto: { provider, deks: sharedDeks } });
      await w.append('extension', events);
      const cid = CID.parse(await w.commit({ time: 1 }));
      await w.close();
      heads.push(cid.toString());
      const src = await folderSource(d);
      const c = await readBlock<CommitBlock>(src, cid);
      const idx = await readBlock<IndexBlock>(src, c.heads.extension);
      const [only] = Object.values(idx.learners);
      const last = await readBlock<ChunkBlock>(src, only.head);
      const first = await readBlock<ChunkBlock>(src, last.prev!);
      expect([first.month, first.count, last.month, last.count]).toEqual(['2026-11', 2, '2026-12', 3]);
      expect(first.enc!.kid.endsWith(':2026-11') && last.enc!.kid.endsWith(':2026-12')).toBe(true);
      src.keys = await ReaderKeys.open(provider, sharedDeks, pipeline.name);
      expect((await streamEntries(src, c, 'extension')).map((e) => e.o)).toEqual([0, 1, 2, 3, 4]);
    }
    expect(heads[0]).toBe(heads[1]);
  });
});
