// A folder of blocks (<dir>/blocks/<cid>) and refs (<dir>/HEAD). Writes are atomic (temp file + rename)
// and a commit is written only after every block it links, so a crash never leaves a commit pointing at
// a missing block; HEAD is switched last.
import { mkdirSync, existsSync } from 'node:fs';
import { readFile, rename, writeFile, open } from 'node:fs/promises';
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

  async put(block: Block, sync = false): Promise<void> {
    const p = this.path(block.cid);
    if (existsSync(p)) return; // content-addressed: the same CID is the same bytes
    const tmp = `${p}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    await fh.writeFile(block.bytes);
    if (sync) await fh.sync();
    await fh.close();
    await rename(tmp, p);
  }

  async get(cid: CID | string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.path(cid)));
  }

  async head(): Promise<CID | null> {
    try {
      return CID.parse((await readFile(join(this.dir, 'HEAD'), 'utf8')).trim());
    } catch {
      return null;
    }
  }

  async setHead(cid: CID): Promise<void> {
    const tmp = join(this.dir, `HEAD.${process.pid}.tmp`);
    await writeFile(tmp, cid.toString() + '\n');
    await rename(tmp, join(this.dir, 'HEAD'));
  }
}
