// Dead letters in an NDJSON file in the data folder: appended in order, readable with any tool, and
// `loflow deadletter replay` takes them out to re-feed them.
import { appendFile, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DeadLetter, DeadLetterStore } from '../types.js';

export class FileDeadLetterStore implements DeadLetterStore {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(readonly file: string) {}

  /** Serialise file operations: appends and takes must not interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  put(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return Promise.resolve();
    return this.serial(async () => {
      await mkdir(dirname(this.file), { recursive: true });
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

  /** Where `take` moves the file while it takes from it. */
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
   * Retention: remove the letters that arrived before `before` (ms), the same way `take` removes them (the
   * file moved aside, the rest appended back), so a server appending meanwhile loses nothing. Returns how
   * many went (or would, with dryRun).
   */
  expire(before: number, dryRun = false): Promise<number> {
    if (dryRun) return this.serial(async () => (await this.all()).filter((l) => l.at < before).length);
    return this.extract((all) => all.filter((l) => l.at < before).length, (l) => l.at < before).then((l) => l.length);
  }

  /** Take the first `count(all)` letters, and then every later one `also` selects; the rest stays. */
  private extract(count: (all: DeadLetter[]) => number, also?: (l: DeadLetter) => boolean): Promise<DeadLetter[]> {
    return this.serial(async () => {
      await this.recover();
      // A running server appends to the file while `loflow deadletter replay` takes from it: the file is moved
      // aside first (atomic), so the server's later appends start a new one, and what is not taken is
      // appended back to that (after the letters written meanwhile). Rewriting it in place lost those.
      try {
        await rename(this.file, this.aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      // Whole lines only: a line still being written is read on the next round.
      const text = wholeLines(await readFile(this.aside, 'utf8'));
      let read = Buffer.byteLength(text);
      const all = parseLetters(text);
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
      // An append the other process opened before the move lands in the moved file: carry it over too.
      for (let round = 0; round < 2; round++) {
        const late = wholeLines(await readFrom(this.aside, read), round === 1);
        read += Buffer.byteLength(late);
        for (const l of parseLetters(late)) {
          if (also?.(l)) taken.push(l);
          else rest.push(l);
        }
        if (rest.length) await appendFile(this.file, rest.map((l) => JSON.stringify(l)).join('\n') + '\n');
        rest.length = 0;
      }
      await unlink(this.aside);
      return taken;
    });
  }

  /** A take that crashed after moving the file aside: its letters go back to the file first. */
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

/** The text up to its last newline; with `all`, a last line without one too (nothing comes after it). */
function wholeLines(text: string, all = false): string {
  if (all && text !== '' && !text.endsWith('\n')) return text + '\n';
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

/** The text of a file from byte `offset` on ('' when it did not grow). */
async function readFrom(file: string, offset: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}
