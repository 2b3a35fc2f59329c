// Wrapped data keys in a folder beside the archive's blocks (`<archive>/keys/`, never in a CAR, a pin or gc's
// walk): one small file per kid. Put: temp file + link (fails if the kid exists: first writer wins); made
// durable by sync() before the commit that needs them. Delete: the file is overwritten with zeros and fsynced,
// then unlinked and the folder fsynced: no backup copy, no old version left behind by loflow.
import { existsSync, mkdirSync } from 'node:fs';
import { link, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { syncDir } from '../blockstore.js';
import { checkKid, decodeWrapped, encodeWrapped, type DekStore, type WrappedDek } from './dek-store.js';

const fileOf = (kid: string) => `${kid.replace(':', '.')}.key`;
const kidOf = (file: string) => file.slice(0, -4).replace('.', ':');

export class FileDekStore implements DekStore {
  private unsynced = new Set<string>();
  constructor(
    readonly dir: string,
    private readonly durable = true,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The keys folder of an archive folder. */
  static forArchive(archiveDir: string, durable = true): FileDekStore {
    return new FileDekStore(join(archiveDir, 'keys'), durable);
  }

  async getWrapped(kid: string): Promise<WrappedDek | undefined> {
    try {
      return decodeWrapped(await readFile(join(this.dir, fileOf(checkKid(kid))), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async putIfAbsent(kid: string, wrapped: WrappedDek): Promise<WrappedDek> {
    const path = join(this.dir, fileOf(checkKid(kid)));
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const f = await open(tmp, 'wx', 0o600);
    try {
      await f.writeFile(encodeWrapped(kid, wrapped));
    } finally {
      await f.close();
    }
    try {
      await link(tmp, path);
      this.unsynced.add(path);
      return wrapped;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const stored = await this.getWrapped(kid);
      if (stored) return stored;
      // A key file left empty by a power loss before its sync: no chunk under it was committed; replace it.
      await rename(tmp, path);
      this.unsynced.add(path);
      return wrapped;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** fsync the keys written since the last sync (many at once: one fsync after another is slow), then the folder. */
  async sync(): Promise<void> {
    if (!this.durable || this.unsynced.size === 0) return;
    const paths = [...this.unsynced];
    this.unsynced.clear();
    for (let i = 0; i < paths.length; i += 32) {
      await Promise.all(
        paths.slice(i, i + 32).map(async (p) => {
          const f = await open(p, 'r').catch(() => undefined); // deleted meanwhile: nothing to sync
          if (!f) return;
          try {
            await f.sync();
          } finally {
            await f.close();
          }
        }),
      );
    }
    await syncDir(this.dir);
  }

  async delete(kids: string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (const kid of kids) {
      const path = join(this.dir, fileOf(checkKid(kid)));
      let f;
      try {
        f = await open(path, 'r+');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      try {
        // Overwrite in place first: on a file system that reuses blocks, the unlinked bytes are zeros.
        const { size } = await f.stat();
        await f.write(Buffer.alloc(size), 0, size, 0);
        await f.sync();
      } finally {
        await f.close();
      }
      await unlink(path);
      this.unsynced.delete(path);
      deleted.push(kid);
    }
    if (deleted.length) await syncDir(this.dir);
    return deleted;
  }

  async kids(prefix = ''): Promise<string[]> {
    if (!existsSync(this.dir)) return [];
    return (await readdir(this.dir))
      .filter((f) => f.endsWith('.key'))
      .map(kidOf)
      .filter((k) => k.startsWith(prefix))
      .sort();
  }
}
