// CAR frames as verify reads them and export writes them: hostile lengths are refused before anything is
// allocated for them (a declared 2^40-byte block, a block over the limit, a varint that never ends), every
// damaged frame is a one-line error naming the block (never an exception), and blocks larger than the
// export's write buffers come out as @ipld/car's CarWriter writes them.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CarWriter } from '@ipld/car';
import * as dagCbor from '@ipld/dag-cbor';
import { sha256 } from 'multiformats/hashes/sha2';
import { CID, encodeBlock } from '../../archive/blocks.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { scanLinks, scanLinksToTail } from '../../archive/cbor-links.js';
import { tmp } from './helpers.js';

const varint = (n: number) => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return Buffer.from(out);
};
const header = (root: CID) => {
  const h = dagCbor.encode({ version: 1, roots: [root] });
  return Buffer.concat([varint(h.length), h]);
};
const frame = (cid: CID, bytes: Uint8Array) => Buffer.concat([varint(cid.bytes.length + bytes.length), cid.bytes, bytes]);

/** A CAR as CarWriter writes it. */
async function carWriterBytes(root: CID, blocks: Array<{ cid: CID; bytes: Uint8Array }>): Promise<Buffer> {
  const { writer, out } = CarWriter.create([root]);
  const chunks: Uint8Array[] = [];
  const collecting = (async () => {
    for await (const c of out) chunks.push(c);
  })();
  for (const b of blocks) await writer.put(b);
  await writer.close();
  await collecting;
  return Buffer.concat(chunks);
}

async function verifyBytes(bytes: Buffer) {
  const file = join(tmp(), 'x.car');
  writeFileSync(file, bytes);
  return verifyCar(file);
}

describe('CAR frames', () => {
  it('refuses a frame declaring a 2^40-byte block, naming the block, without allocating it', async () => {
    const leaf = await encodeBlock({ n: 1 });
    const bytes = Buffer.concat([header(leaf.cid), frame(leaf.cid, leaf.bytes), varint(2 ** 40), leaf.cid.bytes, Buffer.alloc(100)]);
    const v = await verifyBytes(bytes);
    expect(v).toMatchObject({ ok: false, blocks: 1 });
    expect(v.error).toBe(`block #1: unreadable (truncated: the frame declares ${2 ** 40} bytes, the file holds ${leaf.cid.bytes.length + 100} more)`);
  });

  it('refuses a block over LOFLOW_MAX_CAR_BLOCK_MB, and accepts it under a higher limit', async () => {
    const big = await encodeBlock({ data: new Uint8Array(2 * 1024 * 1024) });
    const bytes = Buffer.concat([header(big.cid), frame(big.cid, big.bytes)]);
    const before = process.env.LOFLOW_MAX_CAR_BLOCK_MB;
    try {
      process.env.LOFLOW_MAX_CAR_BLOCK_MB = '1';
      const v = await verifyBytes(bytes);
      expect(v.ok).toBe(false);
      expect(v.error).toBe(`block #0: unreadable (a ${big.cid.bytes.length + big.bytes.length}-byte block, over the 1 MiB limit (LOFLOW_MAX_CAR_BLOCK_MB raises it))`);
      process.env.LOFLOW_MAX_CAR_BLOCK_MB = '4';
      expect(await verifyBytes(bytes)).toMatchObject({ ok: true, blocks: 1, unreachable: [] });
    } finally {
      if (before === undefined) delete process.env.LOFLOW_MAX_CAR_BLOCK_MB;
      else process.env.LOFLOW_MAX_CAR_BLOCK_MB = before;
    }
  });

  it('names the block of a truncated, endless-varint, zero-length or CID-less frame; a header past the file is not a CAR', async () => {
    const leaf = await encodeBlock({ n: 1, text: 'x'.repeat(200) });
    const root = await encodeBlock({ leaf: leaf.cid });
    const good = Buffer.concat([header(root.cid), frame(root.cid, root.bytes), frame(leaf.cid, leaf.bytes)]);
    expect(await verifyBytes(good)).toMatchObject({ ok: true, blocks: 2 });
    const second = header(root.cid).length + frame(root.cid, root.bytes).length;
    const cases: Array<[Buffer, string]> = [
      [good.subarray(0, good.length - 50), `block #1: unreadable (truncated: the frame declares ${leaf.cid.bytes.length + leaf.bytes.length} bytes, the file holds ${leaf.cid.bytes.length + leaf.bytes.length - 50} more)`],
      [Buffer.concat([good.subarray(0, second), Buffer.alloc(12, 0xff)]), 'block #1: unreadable (a varint longer than 8 bytes)'],
      [Buffer.concat([good.subarray(0, second), Buffer.from([0])]), 'block #1: unreadable (Invalid CAR section (zero length))'],
      [Buffer.concat([good.subarray(0, second), varint(3), Buffer.from([0x01, 0x71, 0x12])]), 'block #1: unreadable (the frame ends inside its CID)'],
      [Buffer.concat([good.subarray(0, second), varint(3), Buffer.from([0x05, 0x71, 0x12])]), 'block #1: unreadable (Unexpected CID version (5))'],
    ];
    for (const [bytes, error] of cases) expect(await verifyBytes(bytes)).toMatchObject({ ok: false, error });
    const hugeHeader = Buffer.concat([varint(2 ** 40), Buffer.alloc(64)]);
    expect((await verifyBytes(hugeHeader)).error).toMatch(/^not a readable CAR file: /);
    expect((await verifyBytes(Buffer.alloc(0))).error).toMatch(/^not a readable CAR file: /);
  });

  it('reads a hash other than sha2-256 as corrupted, and a reachable block that does not decode as an incomplete DAG', async () => {
    const leaf = await encodeBlock({ n: 1 });
    const md5ish = CID.decode(Uint8Array.from([0x01, 0x71, 0x13, 64, ...new Uint8Array(64)])); // sha2-512 code, zero digest
    const v = await verifyBytes(Buffer.concat([header(leaf.cid), frame(md5ish, leaf.bytes)]));
    expect(v.error).toBe(`block #0 ${md5ish.toString()}: its bytes do not hash to its CID (corrupted)`);
    // A link tag followed by bytes no decoder takes: the scan hands it to the decoder, whose error is reported.
    const broken = Uint8Array.from([0xa1, 0x61, 0x61, 0xd8, 0x2a, 0x58, 0x40, 0x00]);
    const cid = CID.create(1, 0x71, await sha256.digest(broken));
    const w = await verifyBytes(Buffer.concat([header(cid), frame(cid, broken)]));
    expect(w.ok).toBe(false);
    expect(w.error).toMatch(/^the DAG is incomplete: /);
  });

  it('exports blocks larger than its write buffers as CarWriter does, and verify reads them back', async () => {
    const store = new FolderBlockstore(tmp());
    const huge = await encodeBlock({ data: new Uint8Array(9 * 1024 * 1024).fill(7) }); // over a whole buffer
    const large = await encodeBlock({ data: new Uint8Array(5 * 1024 * 1024).fill(3) }); // over the half a buffer is flushed at
    const small = await Promise.all([1, 2, 3].map((n) => encodeBlock({ n, text: 'y'.repeat(1000 * n) })));
    const root = await encodeBlock({ a: small[0].cid, b: large.cid, c: small[1].cid, d: huge.cid, e: small[2].cid });
    for (const b of [root, huge, large, ...small]) await store.put(b);
    const out = join(store.dir, 'x.car');
    const r = await exportCar(store, root.cid, out);
    const order = [root, small[0], large, small[1], huge, small[2]];
    expect(r).toEqual({ blocks: 6, bytes: order.reduce((n, b) => n + b.bytes.length, 0) });
    expect(readFileSync(out).equals(await carWriterBytes(root.cid, order))).toBe(true);
    expect(await verifyCar(out)).toEqual({ ok: true, root: root.cid.toString(), blocks: 6, bytes: r.bytes, unreachable: [] });
  });
});

describe('CARv2', () => {
  it('verifies the CARv1 payload inside a CARv2 (after padding, before its index), as @ipld/car reads it', async () => {
    const leaf = await encodeBlock({ n: 1 });
    const root = await encodeBlock({ leaf: leaf.cid });
    const v1 = Buffer.concat([header(root.cid), frame(root.cid, root.bytes), frame(leaf.cid, leaf.bytes)]);
    const pragma = Buffer.from([0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02]);
    const fixed = Buffer.alloc(40);
    fixed.writeBigUInt64LE(BigInt(pragma.length + 40 + 5), 16); // the payload's offset (after 5 bytes of padding)
    fixed.writeBigUInt64LE(BigInt(v1.length), 24);
    const v2 = Buffer.concat([pragma, fixed, Buffer.alloc(5), v1, Buffer.from('an index the verify does not read')]);
    expect(await verifyBytes(v2)).toEqual({ ok: true, root: root.cid.toString(), blocks: 2, bytes: root.bytes.length + leaf.bytes.length, unreachable: [] });
  });
});

describe('the tail scan', () => {
  it('finds the links scanLinks finds, and leaves a map with numeric keys above its links to the decoder', async () => {
    const [a, b] = [await encodeBlock({ n: 1 }), await encodeBlock({ n: 2 })];
    const blocks = [dagCbor.encode({ prev: a.cid, events: [{ x: 1 }, { y: 'z' }] }), dagCbor.encode({ l: [a.cid, { m: b.cid }], t: 'text' }), dagCbor.encode({ n: 1 })];
    for (const bytes of blocks) expect(scanLinksToTail(bytes)?.map(String)).toEqual(scanLinks(bytes)?.map(String));
    expect(scanLinksToTail(dagCbor.encode({ '1': a.cid, ab: b.cid, abc: 'no links after this' }))).toBeNull();
    // What it does not read: bytes after the last possible link (no d8 2a follows) are not checked.
    const tailBroken = Uint8Array.from([...dagCbor.encode({ a: a.cid, b: 1 }).subarray(0, -1), 0xf7]);
    expect(scanLinks(tailBroken)).toBeNull();
    expect(scanLinksToTail(tailBroken)?.map(String)).toEqual([a.cid.toString()]);
  });
});
