// Dead letters in an NDJSON file in the data folder: appended in order, readable with any tool, and
// `loflow deadletter replay` takes them out to re-feed them.
import { appendFile, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { replaceFile } from '../erase/replace-file.js';
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
      const n = Math.min(limit, all.length);
      const rest = all.slice(n);
      // An append the other process opened before the move lands in the moved file: carry it over too.
      for (let round = 0; round < 2; round++) {
        const late = wholeLines(await readFrom(this.aside, read), round === 1);
        read += Buffer.byteLength(late);
        rest.push(...parseLetters(late));
        if (rest.length) await appendFile(this.file, rest.map((l) => JSON.stringify(l)).join('\n') + '\n');
        rest.length = 0;
      }
      await unlink(this.aside);
      return all.slice(0, n);
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

  /**
   * `loflow erase`: the file rewritten without the matching letters, atomically (a temporary file renamed over
   * it, fsync'ed first). Serialised with appends of this process; a `deadletter replay` of another process
   * must not run meanwhile (as for replay itself, README).
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
