// The embedded default input log: an in-process queue of accepted events. Not durable: with it, loflow
// keeps exactly-once state effects within a process but loses unprocessed events on a crash (see README).
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';

type Entry = { offset?: number; stream: string; event: LoEvent; at: number; producer?: string };

export class MemoryInputLog implements InputLog {
  readonly kind = 'memory';
  private entries: Array<LoggedEvent | undefined> = [];
  /** Offset of entries[0]: entries below it were truncated. */
  private base = 0;
  /** Offsets below this are truncated; entries[0 .. dropped - base) are cleared until the array is cut. */
  private dropped = 0;

  async append(batch: Entry[]): Promise<{ first: number; count: number }> {
    const first = this.base + this.entries.length;
    let offset = first;
    for (const e of batch) {
      // An entry already shaped as a LoggedEvent (the engine builds them so) becomes it: one object per event.
      if (e.offset !== undefined && e.producer === undefined) {
        e.offset = offset++;
        this.entries.push(e as LoggedEvent);
      } else this.entries.push({ offset: offset++, stream: e.stream, event: e.event, at: e.at });
    }
    return { first, count: batch.length };
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    const start = Math.max(0, from - this.base, this.dropped - this.base);
    return this.entries.slice(start, start + max) as LoggedEvent[];
  }

  async end(): Promise<number> {
    return this.base + this.entries.length;
  }

  async truncate(offset: number): Promise<void> {
    const end = Math.min(offset, this.base + this.entries.length);
    if (end <= this.dropped) return;
    // Clear the slots at once, so processed events are garbage right away (not promoted by the young GC while
    // they wait for the cut); cut the array in large steps only, so truncation costs amortised O(1) per event.
    for (let i = Math.max(this.dropped, this.base) - this.base; i < end - this.base; i++) this.entries[i] = undefined;
    this.dropped = end;
    const n = end - this.base;
    if (n >= 16384 || n === this.entries.length) {
      this.entries = this.entries.slice(n);
      this.base = end;
    }
  }

  /**
   * Continue numbering at `offset` (an empty in-memory log in front of a store that has committed up to
   * there: a fresh process cannot have the events of an earlier one, so its offsets go on from the store's).
   */
  startAt(offset: number): void {
    if (this.entries.length === 0 && offset > this.base) this.base = this.dropped = offset;
  }

  async close(): Promise<void> {}
}
