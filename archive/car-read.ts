// Reading a CAR file frame by frame from large reads: no async step per block, no copy of a block that fits
// in the read buffer, and a declared length checked against the file (and a limit) before anything is
// allocated for it. The header (CARv1, or CARv2 with its CARv1 payload) is read by @ipld/car's own decoder.
import { open, type FileHandle } from 'node:fs/promises';
import { readHeader } from '@ipld/car/decoder';
import { CID } from './blocks.js';

const MiB = 1024 * 1024;
/** The read size: large enough that the per-read cost vanishes, small enough to stay in cache-friendly memory. */
const READ = 8 * MiB;
/** The largest header read (a CARv1 header is its roots: a few hundred bytes). */
const MAX_HEADER = 16 * MiB;

/** The largest block read (LOFLOW_MAX_CAR_BLOCK_MB, default 1024): a longer frame is refused, not allocated. */
export function maxCarBlock(): number {
  const v = Number(process.env.LOFLOW_MAX_CAR_BLOCK_MB);
  return (Number.isFinite(v) && v > 0 ? v : 1024) * MiB;
}

/** A problem in a block's frame: `index` is the block's position in the file (0-based). */
export class CarFrameError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

export interface CarFile {
  fh: FileHandle;
  roots: CID[];
  /** Where the first frame starts and where the frames end (CARv2: its CARv1 payload). */
  start: number;
  end: number;
}

/** Open a CAR and read its header; throws (with @ipld/car's message) when it is not a readable CAR. */
export async function openCar(file: string): Promise<CarFile> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const reader = fileReader(fh, size);
    const header = await readHeader(reader);
    const end = header.version === 2 ? Math.min(size, header.dataOffset + header.dataSize) : size;
    const roots = header.roots.map((r) => CID.asCID(r)!);
    return { fh, roots, start: reader.pos, end };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** The BytesReader @ipld/car's readHeader reads from, over a file, refusing lengths past the file or limit. */
function fileReader(fh: FileHandle, size: number) {
  const read = async (at: number, length: number) => {
    if (length > MAX_HEADER) throw new Error(`a ${length}-byte CAR header (loflow reads at most ${MAX_HEADER})`);
    const n = Math.max(0, Math.min(length, size - at));
    const buf = Buffer.alloc(n);
    if (n) await fh.read(buf, 0, n, at);
    return new Uint8Array(buf.buffer, buf.byteOffset, n);
  };
  const reader = {
    pos: 0,
    upTo: (length: number) => read(reader.pos, length),
    async exactly(length: number, seek: boolean) {
      const bytes = await read(reader.pos, length);
      if (bytes.length < length) throw new Error('Unexpected end of data');
      if (seek) reader.pos += length;
      return bytes;
    },
    seek(length: number) {
      reader.pos += length;
    },
  };
  return reader;
}

/** A varint at `p` (at most 8 bytes, below 2^53); sets `varEnd`. Returns -1 when the bytes end first. */
let varEnd = 0;
function varint(b: Uint8Array, p: number, end: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (p + i >= end) return -1;
    const x = b[p + i];
    v += (x & 0x7f) * mul;
    if (x < 0x80) {
      varEnd = p + i + 1;
      return v;
    }
    mul *= 128;
  }
  throw new Error('a varint longer than 8 bytes');
}

const SHORT = 'the frame ends inside its CID';

/** A frame's CID (CIDv0: a bare sha2-256 multihash; CIDv1), its multihash code and digest, and its block. */
export interface Frame {
  cid: Buffer;
  hashCode: number;
  digest: Buffer;
  block: Buffer;
  index: number;
}

function parseFrame(f: Buffer, index: number): Frame {
  if (f[0] === 0x12 && f[1] === 0x20) {
    if (f.length < 34) throw new Error(SHORT);
    return { cid: f.subarray(0, 34), hashCode: 0x12, digest: f.subarray(2, 34), block: f.subarray(34), index };
  }
  const version = varint(f, 0, f.length);
  if (version !== 1) throw new Error(version < 0 ? SHORT : `Unexpected CID version (${version})`);
  if (varint(f, varEnd, f.length) < 0) throw new Error(SHORT); // the codec
  const hashCode = varint(f, varEnd, f.length);
  const len = hashCode < 0 ? -1 : varint(f, varEnd, f.length);
  if (len < 0 || varEnd + len > f.length) throw new Error(SHORT);
  const end = varEnd + len;
  return { cid: f.subarray(0, end), hashCode, digest: f.subarray(varEnd, end), block: f.subarray(end), index };
}

/**
 * Call `onFrame` with every frame, in file order; its buffers are views into a reused buffer (copy what must
 * outlive the call). Returns the number of frames. Throws CarFrameError on a truncated, overlong or malformed
 * frame. `onFrame` returning false stops the reading there.
 */
export async function forEachFrame(car: CarFile, onFrame: (f: Frame) => boolean | void): Promise<number> {
  const max = maxCarBlock();
  let buf = Buffer.allocUnsafe(READ);
  let at = car.start; // the file offset of buf[0]
  let have = 0; // valid bytes in buf
  let p = 0; // the next frame's start in buf
  let index = 0;
  const fill = async (need: number) => {
    // Keep buf[p..have), read until it holds `need` bytes from p (or the frames end).
    if (p > 0) {
      buf.copyWithin(0, p, have);
      at += p;
      have -= p;
      p = 0;
    }
    if (need > buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, READ));
      buf.copy(bigger, 0, 0, have);
      buf = bigger;
    }
    while (have < need && at + have < car.end) {
      const { bytesRead } = await car.fh.read(buf, have, Math.min(buf.length - have, car.end - at - have), at + have);
      if (bytesRead === 0) break;
      have += bytesRead;
    }
  };
  for (;;) {
    if (have - p < 10) await fill(Math.max(READ, 10));
    if (p >= have) return index;
    let length: number;
    try {
      length = varint(buf, p, have);
      if (length < 0) throw new Error('the file ends inside a frame length');
      if (length === 0) throw new Error('Invalid CAR section (zero length)');
    } catch (err) {
      throw new CarFrameError((err as Error).message, index);
    }
    const remaining = car.end - (at + varEnd);
    if (length > remaining) throw new CarFrameError(`truncated: the frame declares ${length} bytes, the file holds ${remaining} more`, index);
    if (length > max) throw new CarFrameError(`a ${length}-byte block, over the ${max / MiB} MiB limit (LOFLOW_MAX_CAR_BLOCK_MB raises it)`, index);
    const head = varEnd - p;
    if (p + head + length > have) await fill(head + length);
    let frame: Frame;
    try {
      frame = parseFrame(buf.subarray(p + head, p + head + length), index);
    } catch (err) {
      throw new CarFrameError((err as Error).message, index);
    }
    index++;
    p += head + length;
    if (onFrame(frame) === false) return index;
  }
}
