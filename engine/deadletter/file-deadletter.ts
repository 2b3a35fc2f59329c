// Dead letters in an NDJSON file in the data folder: appended in order, readable with any tool, and
// `loflow deadletter replay` takes them out to re-feed them.
//
// Two processes use the file at once (the server appends, `deadletter replay` takes), so every append and
// every take holds a cross-process lock (proper-lockfile: a `<file>.lock` directory, stale after a crash).
// Without it a take could read a line the server was still writing, or miss a late append.
import { appendFile, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import { replaceFile } from '../erase/replace-file.js';
import type { DeadLetter, DeadLetterStore } from '../types.js';

/** How long an operation waits for the other process's lock before failing (it is held for milliseconds). */
const LOCK_RETRIES = { retries: 200, minTimeout: 5, maxTimeout: 50, factor: 1.3 };

export class FileDeadLetterStore implements DeadLetterStore {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(readonly file: string) {}

  /** Serialise this store's operations, each under the file's cross-process lock. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const locked = async () => {
      await mkdir(dirname(this.file), { recursive: true });
      // realpath: false — the file need not exist yet; the lock is on its name.
      const release = await lockfile.lock(this.file, { realpath: false, retries: LOCK_RETRIES, stale: 10_000 });
      try {
        return await fn();
      } finally {
        await release().catch(() => undefined);
      }
    };
    const p = this.chain.then(locked, locked);
    this.chain = p.catch(() => undefined);
    return p;
  }

  put(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return Promise.resolve();
    return this.serial(async () => {
      await appendFile(this.file, letters.map((l) => JSON.stringify(l)).join('\n') + '\n');
    });
  }

  private async all(): Promise<DeadLetter[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return parseLetters(text);
  }

  /** Where an older version's `take` moved the file while taking from it (given back on open). */
  private get aside(): string {
    return `${this.file}.taking`;
  }

  list(limit = Infinity): Promise<DeadLetter[]> {
    return this.serial(async () => {
      await this.recover();
      return (await this.all()).slice(0, limit);
    });
  }

  take(limit = Infinity): Promise<DeadLetter[]> {
    return this.extract((all) => Math.min(limit, all.length));
  }

  /**
   * Retention: remove the letters that arrived before `before` (ms), the same way `take` removes them (under
   * the file's lock, the rest rewritten atomically), so a server appending meanwhile loses nothing. Returns
   * how many went (or would, with dryRun).
   */
  expire(before: number, dryRun = false): Promise<number> {
    if (dryRun) return this.serial(async () => (await this.all()).filter((l) => l.at < before).length);
    return this.extract((all) => all.filter((l) => l.at < before).length, (l) => l.at < before).then((l) => l.length);
  }

  /** Take the first `count(all)` letters, and then every later one `also` selects; the rest stays. */
  private extract(count: (all: DeadLetter[]) => number, also?: (l: DeadLetter) => boolean): Promise<DeadLetter[]> {
    return this.serial(async () => {
      await this.recover();
      const all = await this.all();
      if (all.length === 0) return [];
      let taken: DeadLetter[];
      let rest: DeadLetter[];
      if (also) {
        taken = all.filter(also);
        rest = all.filter((l) => !also(l));
      } else {
        const n = count(all);
        taken = all.slice(0, n);
        rest = all.slice(n);
      }
      if (taken.length === 0) return [];
      // The rest replaces the file atomically: a crash leaves either the old file or the new one.
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, rest.length ? rest.map((l) => JSON.stringify(l)).join('\n') + '\n' : '');
      await fsyncFile(tmp);
      await rename(tmp, this.file);
      return taken;
    });
  }

  /** A take of an older version that crashed after moving the file aside: its letters go back first. */
  private async recover(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.aside, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (text.trim()) await appendFile(this.file, text.endsWith('\n') ? text : text + '\n');
    await unlink(this.aside);
  }

  /**
   * `loflow erase`: the file rewritten without the matching letters, atomically (a temporary file renamed over
   * it, fsync'ed first), under the file's lock like every append and take.
   */
  erase(match: (l: DeadLetter) => boolean, dryRun: boolean): Promise<number> {
    return this.serial(async () => {
      await this.recover();
      const all = await this.all();
      const kept = all.filter((l) => !match(l));
      const n = all.length - kept.length;
      if (n === 0 || dryRun) return n;
      await replaceFile(this.file, kept.map((l) => JSON.stringify(l) + '\n').join(''));
      return n;
    });
  }

  count(): Promise<number> {
    return this.serial(async () => (await this.all()).length);
  }

  async close(): Promise<void> {
    await this.chain;
  }
}

function parseLetters(text: string): DeadLetter[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DeadLetter);
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
