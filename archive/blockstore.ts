// A folder of blocks (<dir>/blocks/<cid>), refs (<dir>/HEAD, <dir>/ANALYSES) and pins (<dir>/pins/<cid>).
// Every write is temp file + fsync + rename (+ fsync of the folder before a ref names it), so a file with a
// CID's name always holds that CID's bytes, and a ref switched after `sync()` never names a missing block.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { readFile, readdir, rename, open, unlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CID, type Block } from './blocks.js';

export class FolderBlockstore {
  readonly blocks: string;
  readonly pinDir: string;
  /** Renames into blocks/ since the last `sync()`: the folder must be fsynced before a ref names them. */
  private renamed = false;

  /** `durable: false` skips the fsyncs: only for a scratch folder deleted afterwards (an export's new DAG). */
  constructor(
    readonly dir: string,
    private readonly durable = true,
  ) {
    this.blocks = join(dir, 'blocks');
    this.pinDir = join(dir, 'pins');
    mkdirSync(this.blocks, { recursive: true });
  }

  private path(cid: CID | string): string {
    return join(this.blocks, cid.toString());
  }

  has(cid: CID | string): boolean {
    return existsSync(this.path(cid));
  }

  async put(block: Block): Promise<void> {
    const p = this.path(block.cid);
    if (existsSync(p)) return; // content-addressed: the same CID is the same bytes
    await writeDurably(p, block.bytes, this.durable);
    this.renamed = this.durable;
  }

  /** Make every rename into blocks/ durable: call before writing anything that links the new blocks. */
  async sync(): Promise<void> {
    if (!this.renamed) return;
    this.renamed = false;
    await syncDir(this.blocks);
  }

  async get(cid: CID | string): Promise<Uint8Array> {
    try {
      const b = await readFile(this.path(cid));
      return new Uint8Array(b.buffer, b.byteOffset, b.length); // a view: a whole-file read is its own buffer
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`the archive ${this.dir} has no block ${cid.toString()}`);
      throw err;
    }
  }

  /**
   * A block's bytes read into `into(size)` (a caller's buffer, reused: no allocation per block), without a
   * thread pool round trip per file: for export, which reads every block once.
   */
  readSync(cid: CID, into: (size: number) => { buf: Buffer; at: number }): Buffer {
    let fd: number;
    try {
      fd = openSync(this.path(cid), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`the archive ${this.dir} has no block ${cid.toString()}`);
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      const { buf, at } = into(size);
      for (let got = 0; got < size; ) {
        const n = readSync(fd, buf, at + got, size - got, got);
        if (n === 0) throw new Error(`the archive ${this.dir}: block ${cid.toString()} shrank while being read`);
        got += n;
      }
      return buf.subarray(at, at + size);
    } finally {
      closeSync(fd);
    }
  }

  /** Every stored block's CID (as text), and leftover temp files of interrupted writes. */
  async list(): Promise<{ cids: string[]; temps: string[] }> {
    const cids: string[] = [];
    const temps: string[] = [];
    for (const name of await readdir(this.blocks)) (name.endsWith('.tmp') ? temps : cids).push(name);
    return { cids, temps };
  }

  /** Delete a block (or temp file) by its file name; returns its size in bytes. */
  async remove(name: string): Promise<number> {
    const p = join(this.blocks, name);
    const { size } = await stat(p);
    await unlink(p);
    return size;
  }

  /** A named ref: a CID in a small file, switched atomically. */
  async ref(name: string): Promise<CID | null> {
    let text: string;
    try {
      text = (await readFile(join(this.dir, name), 'utf8')).trim();
    } catch {
      return null;
    }
    try {
      return CID.parse(text);
    } catch {
      throw new Error(`${join(this.dir, name)} does not hold a CID ('${text.slice(0, 80)}')`);
    }
  }

  /** Switch a ref, after making the blocks it may reach durable. */
  async setRef(name: string, cid: CID): Promise<void> {
    await this.sync();
    await writeDurably(join(this.dir, name), new TextEncoder().encode(cid.toString() + '\n'), this.durable);
    if (this.durable) await syncDir(this.dir);
  }

  head(): Promise<CID | null> {
    return this.ref('HEAD');
  }

  setHead(cid: CID): Promise<void> {
    return this.setRef('HEAD', cid);
  }

  async pins(): Promise<CID[]> {
    try {
      return (await readdir(this.pinDir)).filter((n) => !n.endsWith('.tmp')).map((n) => CID.parse(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Pin a stored block (and so everything it reaches) against gc. Returns false when it was pinned already. */
  async pin(cid: CID): Promise<boolean> {
    if (!this.has(cid)) throw new Error(`the archive ${this.dir} has no block ${cid.toString()} to pin`);
    mkdirSync(this.pinDir, { recursive: true });
    const p = join(this.pinDir, cid.toString());
    if (existsSync(p)) return false;
    await writeDurably(p, new Uint8Array());
    await syncDir(this.pinDir);
    return true;
  }

  /** Returns false when the CID was not pinned. */
  async unpin(cid: CID): Promise<boolean> {
    try {
      await unlink(join(this.pinDir, cid.toString()));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await syncDir(this.pinDir);
    return true;
  }
}

let tmpSeq = 0;

/** Temp file, fsync, rename: after a crash the path holds either nothing or all of `bytes`. */
export async function writeDurably(path: string, bytes: Uint8Array, sync = true): Promise<void> {
  const tmp = `${path}.${process.pid}.${tmpSeq++}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** fsync a folder so the renames inside it survive a power loss (a no-op where the OS refuses it). */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems cannot fsync a directory; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}
