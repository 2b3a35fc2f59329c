// A new DAG written straight into a CARv1 file as its blocks are made: what a filtered or pseudonymized
// export builds. It used to go into a scratch folder, block files read back and written again as a CAR:
// the whole export on disk twice, and written three times. Blocks go out in the order they are made
// (chunks, indexes, the pipeline, the commit last); the header names the root, which is known only at the
// end: it is written over a placeholder of the same size. The file is `${out}.<pid>.tmp` until `finish` renames
// it: an export that fails or is refused leaves no CAR behind.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import * as dagCbor from '@ipld/dag-cbor';
import { carHeader, putVarint, writeAll } from './car-write.js';
import { sha256 } from 'multiformats/hashes/sha2';
import { CID, type Block } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';

const SLAB = 8 * 1024 * 1024;

/**
 * A blockstore an ArchiveWriter writes into (passed as `store` to ArchiveWriter.open): `put` appends the
 * block's frame to the CAR, `setHead` records the root. Only for a new DAG: nothing is read back. The folder
 * it is given holds the writer's lock only.
 */
export class CarSink extends FolderBlockstore {
  private readonly seen = new Set<string>();
  private readonly slabs = [Buffer.allocUnsafe(SLAB), Buffer.allocUnsafe(SLAB)];
  private slab = this.slabs[0];
  private used = 0;
  private position = 0;
  private writing: Promise<void> = Promise.resolve();
  /** Puts one after another: a frame is never split by another's. */
  private queue: Promise<void> = Promise.resolve();
  private root: CID | null = null;
  blockCount = 0;
  byteCount = 0;

  private constructor(
    scratch: string,
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly out: string,
    private readonly placeholder: number,
  ) {
    super(scratch, false);
  }

  /** A sink writing `out` (through a temporary file beside it); `scratch` is a folder for the writer's lock. */
  static async create(scratch: string, out: string): Promise<CarSink> {
    const tmp = `${out}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    // A CIDv1 dag-cbor sha2-256 (what every loflow block is) of any bytes: the same size as the root's.
    const h = carHeader(CID.create(1, dagCbor.code, await sha256.digest(new Uint8Array(0))));
    const sink = new CarSink(scratch, fh, tmp, out, h.length);
    sink.slab.set(h, 0);
    sink.used = h.length;
    return sink;
  }

  override has(cid: CID | string): boolean {
    return this.seen.has(cid.toString());
  }

  override head(): Promise<CID | null> {
    return Promise.resolve(null);
  }

  override async setHead(cid: CID): Promise<void> {
    this.root = cid;
  }

  override async sync(): Promise<void> {}

  override get(cid: CID | string): Promise<Uint8Array> {
    return Promise.reject(new Error(`an export's CAR is written, not read: block ${cid.toString()} was asked for`));
  }

  override put(block: Block): Promise<void> {
    const p = this.queue.then(() => this.append(block));
    this.queue = p.catch(() => {});
    return p;
  }

  private async append({ cid, bytes }: Block): Promise<void> {
    const key = cid.toString();
    if (this.seen.has(key)) return; // content-addressed: once is enough
    this.seen.add(key);
    const head = new Uint8Array(9 + cid.bytes.length);
    const at = putVarint(head, 0, cid.bytes.length + bytes.length);
    head.set(cid.bytes, at);
    const frameHead = head.subarray(0, at + cid.bytes.length);
    if (this.used + frameHead.length + bytes.length > this.slab.length) await this.flush();
    if (frameHead.length + bytes.length > this.slab.length) {
      // Larger than a buffer: written on its own.
      await this.writing;
      await this.write(frameHead);
      await this.write(bytes);
    } else {
      this.slab.set(frameHead, this.used);
      this.slab.set(bytes, this.used + frameHead.length);
      this.used += frameHead.length + bytes.length;
      if (this.used >= SLAB / 2) await this.flush();
    }
    this.blockCount++;
    this.byteCount += bytes.length;
  }

  /** Writes `buf` at the end of what was handed to the file (the position is taken at once: writes may overlap). */
  private write(buf: Uint8Array): Promise<void> {
    const at = this.position;
    this.position += buf.length;
    return writeAll(this.fh, buf, buf.length, at);
  }

  /** Hands the filled buffer to the file and fills the other one meanwhile (once its own write is done). */
  private async flush(): Promise<void> {
    await this.writing;
    if (!this.used) return;
    this.writing = this.write(this.slab.subarray(0, this.used));
    this.slab = this.slab === this.slabs[0] ? this.slabs[1] : this.slabs[0];
    this.used = 0;
  }

  /** Writes what is left and the header with the root, and renames the file to `out`: its blocks and bytes. */
  async finish(): Promise<{ blocks: number; bytes: number }> {
    await this.queue;
    if (!this.root) throw new Error('the export has no commit (no root for its CAR)');
    await this.flush();
    await this.writing;
    const h = carHeader(this.root);
    if (h.length !== this.placeholder) throw new Error(`the root ${this.root} is not a CIDv1 dag-cbor sha2-256 link`);
    await this.fh.write(h, 0, h.length, 0);
    await this.fh.close();
    await rename(this.tmp, this.out);
    return { blocks: this.blockCount, bytes: this.byteCount };
  }

  /** Closes and deletes the unfinished file. */
  async abort(): Promise<void> {
    await this.queue.catch(() => {});
    await this.writing.catch(() => {});
    await this.fh.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
  }
}
