// CARv1 export: the frames (varint length, CID bytes, block bytes) written straight into two large reused
// buffers, each block read from its file into its place in the frame; one buffer is written while the
// other fills. No allocation, copy or async step per block (a per-block readFile cost page faults on fresh
// memory, a garbage collection now and then, and four thread pool round trips).
import { open, type FileHandle } from 'node:fs/promises';
import * as dagCbor from '@ipld/dag-cbor';
import type { CID } from './blocks.js';
import { tailLinks } from './cbor-links.js';
import type { FolderBlockstore } from './blockstore.js';

const SLAB = 8 * 1024 * 1024;

/** Write `n` at `at` as an unsigned varint; returns the position after it. */
export function putVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

/** The CARv1 header with its varint length, as CarWriter writes it. */
export function carHeader(root: CID): Uint8Array {
  const header = dagCbor.encode({ version: 1, roots: [root] });
  const out = new Uint8Array(9 + header.length);
  const at = putVarint(out, 0, header.length);
  out.set(header, at);
  return out.subarray(0, at + header.length);
}

/** `length` bytes of `buf` written at `position`, however many writes it takes. */
export async function writeAll(fh: FileHandle, buf: Uint8Array, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) done += (await fh.write(buf, done, length - done, position + done)).bytesWritten;
}

const keyOf = (cid: CID) => Buffer.from(cid.bytes.buffer, cid.bytes.byteOffset, cid.bytes.length).toString('latin1');

/**
 * Write the DAG under `root` to a CARv1 file, blocks depth first in link order (parents before children), as
 * @ipld/car's CarWriter over walk() wrote it, byte for byte. Returns the number of blocks and block bytes.
 */
export async function exportCar(store: FolderBlockstore, root: CID, out: string): Promise<{ blocks: number; bytes: number }> {
  const fh = await open(out, 'w');
  const slabs = [Buffer.allocUnsafe(SLAB), Buffer.allocUnsafe(SLAB)];
  let slab = slabs[0];
  let used = 0;
  let position = 0;
  let writing: Promise<void> = Promise.resolve();
  // Hand the filled buffer to the file and fill the other one meanwhile (after its own write has finished).
  const flush = async () => {
    await writing;
    if (!used) return;
    writing = writeAll(fh, slab, used, position);
    position += used;
    slab = slab === slabs[0] ? slabs[1] : slabs[0];
    used = 0;
  };
  let blocks = 0;
  let bytes = 0;
  try {
    const header = carHeader(root);
    slab.set(header, 0);
    used = header.length;
    const seen = new Set<string>();
    const stack = [root];
    while (stack.length) {
      const cid = stack.pop()!;
      const key = keyOf(cid);
      if (seen.has(key)) continue;
      seen.add(key);
      let pending = 0; // the frame's size, when it does not fit in what is left of the buffer
      let big: Buffer | null = null;
      const block = store.readSync(cid, (size) => {
        const frame = 9 + cid.bytes.length + size;
        if (used + frame > slab.length) {
          pending = frame;
          big = Buffer.allocUnsafe(frame); // read aside; copied or written once the buffer is flushed
          return { buf: big, at: 9 + cid.bytes.length };
        }
        used = putVarint(slab, used, cid.bytes.length + size);
        slab.set(cid.bytes, used);
        used += cid.bytes.length;
        return { buf: slab, at: used };
      });
      if (pending) {
        await flush();
        let at = putVarint(slab, 0, cid.bytes.length + block.length);
        if (pending <= slab.length) {
          slab.set(cid.bytes, at);
          at += cid.bytes.length;
          block.copy(slab, at);
          used = at + block.length;
        } else {
          // Larger than a buffer: its own write, after the frame head.
          const head = Buffer.concat([slab.subarray(0, at), cid.bytes]);
          await writing;
          await writeAll(fh, head, head.length, position);
          position += head.length;
          await writeAll(fh, big!.subarray(9 + cid.bytes.length), block.length, position);
          position += block.length;
        }
      } else used += block.length;
      blocks++;
      bytes += block.length;
      const links = tailLinks(block); // only the links are needed: no decode of the events
      for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
      if (used >= SLAB / 2) await flush();
    }
    await flush();
    await writing;
  } finally {
    await writing.catch(() => {});
    await fh.close();
  }
  return { blocks, bytes };
}
