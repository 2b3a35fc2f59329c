// Dead letters in an NDJSON file in the data folder: appended in order, readable with any tool, and
// `loflow deadletter replay` takes them out to re-feed them.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
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
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DeadLetter);
  }

  list(limit = Infinity): Promise<DeadLetter[]> {
    return this.serial(async () => (await this.all()).slice(0, limit));
  }

  take(limit = Infinity): Promise<DeadLetter[]> {
    return this.serial(async () => {
      const all = await this.all();
      const n = Math.min(limit, all.length);
      // Rewrite the rest first: a crash after this loses nothing that was not handed out.
      const rest = all.slice(n);
      await writeFile(this.file + '.tmp', rest.map((l) => JSON.stringify(l)).join('\n') + (rest.length ? '\n' : ''));
      const { rename } = await import('node:fs/promises');
      await rename(this.file + '.tmp', this.file);
      return all.slice(0, n);
    });
  }

  count(): Promise<number> {
    return this.serial(async () => (await this.all()).length);
  }

  async close(): Promise<void> {
    await this.chain;
  }
}
