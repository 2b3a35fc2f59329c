// Dead letters kept in this process (the embedded default); the server uses the file-backed store.
import type { DeadLetter, DeadLetterStore } from '../types.js';

export class MemoryDeadLetterStore implements DeadLetterStore {
  private letters: DeadLetter[] = [];

  async put(letters: DeadLetter[]): Promise<void> {
    for (const l of letters) this.letters.push(l);
  }

  async list(limit = Infinity): Promise<DeadLetter[]> {
    return this.letters.slice(0, limit);
  }

  async take(limit = Infinity): Promise<DeadLetter[]> {
    const n = Math.min(limit, this.letters.length);
    return this.letters.splice(0, n);
  }

  /** Retention: remove the letters that arrived before `before` (ms); returns how many (would) go. */
  async expire(before: number, dryRun = false): Promise<number> {
    const n = this.letters.filter((l) => l.at < before).length;
    if (!dryRun) this.letters = this.letters.filter((l) => l.at >= before);
    return n;
  }

  async erase(match: (l: DeadLetter) => boolean, dryRun: boolean): Promise<number> {
    const kept = this.letters.filter((l) => !match(l));
    const n = this.letters.length - kept.length;
    if (!dryRun) this.letters = kept;
    return n;
  }

  async count(): Promise<number> {
    return this.letters.length;
  }

  async close(): Promise<void> {}
}
