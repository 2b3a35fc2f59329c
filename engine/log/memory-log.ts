// The embedded default input log: an in-process queue of accepted events. Not durable: with it, loflow
// keeps exactly-once state effects within a process but loses unprocessed events on a crash (see README).
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';

export class MemoryInputLog implements InputLog {
  readonly kind = 'memory';
  private entries: LoggedEvent[] = [];
  /** Offset of entries[0]: entries below it were truncated. */
  private base = 0;

  async append(batch: Array<{ stream: string; event: LoEvent; at: number }>): Promise<{ first: number; count: number }> {
    const first = this.base + this.entries.length;
    let offset = first;
    for (const e of batch) this.entries.push({ offset: offset++, stream: e.stream, event: e.event, at: e.at });
    return { first, count: batch.length };
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    const start = Math.max(0, from - this.base);
    return this.entries.slice(start, start + max);
  }

  async end(): Promise<number> {
    return this.base + this.entries.length;
  }

  async truncate(offset: number): Promise<void> {
    const n = offset - this.base;
    // Drop in large steps only, so truncating after every batch costs amortised O(1) per event.
    if (n >= 16384 || (n > 0 && n === this.entries.length)) {
      this.entries = this.entries.slice(n);
      this.base = offset;
    }
  }

  /**
   * Continue numbering at `offset` (an empty in-memory log in front of a store that has committed up to
   * there: a fresh process cannot have the events of an earlier one, so its offsets go on from the store's).
   */
  startAt(offset: number): void {
    if (this.entries.length === 0 && offset > this.base) this.base = offset;
  }

  async close(): Promise<void> {}
}
