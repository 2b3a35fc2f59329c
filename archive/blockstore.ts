// A folder of blocks (<dir>/blocks/<cid>) and refs (<dir>/HEAD). Writes are atomic (temp file + rename)
// and a commit is written only after every block it links, so a crash never leaves a commit pointing at
// a missing block; HEAD is switched last.
import { mkdirSync, existsSync } from 'node:fs';
import { readFile, readdir, rename, open, unlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CID, type Block } from './blocks.js';

export class FolderBlockstore {
  readonly blocks: string;
  constructor(readonly dir: string) {
    this.blocks = join(dir, 'blocks');
    mkdirSync(this.blocks, { recursive: true });
  }

  private path(cid: CID | string): string {
    return join(this.blocks, cid.toString());
  }

  has(cid: CID | string): boolean {
    return existsSync(this.path(cid));
  }

  /** Blocks written without fsync since the last `syncPending` (made durable before a commit names them). */
  private unsynced: string[] = [];

  async put(block: Block, sync = false): Promise<void> {
    const p = this.path(block.cid);
    if (existsSync(p)) return; // content-addressed: the same CID is the same bytes
    const tmp = `${p}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    await fh.writeFile(block.bytes);
    if (sync) await fh.sync();
    await fh.close();
    await rename(tmp, p);
    if (sync) await syncDir(this.blocks);
    else this.unsynced.push(p);
  }

  /**
   * fsync every block written without it, then the blocks folder (so the renames are durable): called before
   * a commit is written, so even a power loss cannot leave a commit whose blocks were still in the page cache.
   */
  async syncPending(): Promise<void> {
    const paths = this.unsynced;
    this.unsynced = [];
    for (const p of paths) {
      const fh = await open(p, 'r');
      await fh.sync();
      await fh.close();
    }
    if (paths.length) await syncDir(this.blocks);
  }

  /** Every block's CID string, and leftover temp files of interrupted writes (for gc). */
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

  /** A named ref (HEAD, ANALYSES): a CID in a small file, switched atomically. */
  async ref(name: string): Promise<CID | null> {
    try {
      return CID.parse((await readFile(join(this.dir, name), 'utf8')).trim());
    } catch {
      return null;
    }
  }

  async setRef(name: string, cid: CID): Promise<void> {
    const tmp = join(this.dir, `${name}.${process.pid}.tmp`);
    const fh = await open(tmp, 'w');
    await fh.writeFile(cid.toString() + '\n');
    await fh.sync();
    await fh.close();
    await rename(tmp, join(this.dir, name));
    await syncDir(this.dir);
  }

  async get(cid: CID | string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.path(cid)));
  }

  async head(): Promise<CID | null> {
    return this.ref('HEAD');
  }

  async setHead(cid: CID): Promise<void> {
    await this.setRef('HEAD', cid);
  }
}

/** fsync a directory so a rename inside it survives a power loss (a no-op where the OS refuses it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some filesystems (and Windows) cannot fsync a directory; the rename is still atomic.
  }
}
