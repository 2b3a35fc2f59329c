// The embedded default input log: an in-process queue of accepted events. Not durable: with it, loflow
// keeps exactly-once state effects within a process but loses unprocessed events on a crash (see README).
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';

type Entry = { offset?: number; stream: string; event: LoEvent; at: number; producer?: string };

/** Entries per chunk: the log grows and is truncated a chunk at a time, so no event is copied around. */
const CHUNK = 4096;

export class MemoryInputLog implements InputLog {
  readonly kind = 'memory';
  /** The entries from `base` on, in chunks; every chunk but the last is full. */
  private chunks: Array<Array<LoggedEvent | undefined>> = [];
  /** Offset of chunks[0][0]: entries below it were truncated. */
  private base = 0;
  private size = 0;
  /** Offsets below this are truncated; their slots are cleared until their chunk is dropped. */
  private dropped = 0;

  async append(batch: Entry[]): Promise<{ first: number; count: number }> {
    const first = this.base + this.size;
    let offset = first;
    let last = this.chunks[this.chunks.length - 1];
    for (const e of batch) {
      if (!last || last.length === CHUNK) this.chunks.push((last = []));
      // An entry already shaped as a LoggedEvent (the engine builds them so) becomes it: one object per event.
      if (e.offset !== undefined && e.producer === undefined) {
        e.offset = offset++;
        last.push(e as LoggedEvent);
      } else last.push({ offset: offset++, stream: e.stream, event: e.event, at: e.at });
    }
    this.size += batch.length;
    return { first, count: batch.length };
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    const start = Math.max(from, this.base, this.dropped) - this.base;
    const end = Math.min(this.size, start + max);
    const out: LoggedEvent[] = new Array(Math.max(0, end - start));
    for (let i = start; i < end; i++) out[i - start] = this.chunks[Math.floor(i / CHUNK)][i % CHUNK]!;
    return out;
  }

  async end(): Promise<number> {
    return this.base + this.size;
  }

  async truncate(offset: number): Promise<void> {
    const end = Math.min(offset, this.base + this.size);
    if (end <= this.dropped) return;
    // Processed events are let go of at once (not kept alive, and copied by the young GC, until their chunk goes).
    for (let i = Math.max(this.dropped, this.base) - this.base; i < end - this.base; i++) this.chunks[Math.floor(i / CHUNK)][i % CHUNK] = undefined;
    this.dropped = end;
    if (end === this.base + this.size) {
      this.chunks = [];
      this.size = 0;
      this.base = end;
      return;
    }
    while (this.base + CHUNK <= end) {
      this.chunks.shift();
      this.base += CHUNK;
      this.size -= CHUNK;
    }
  }

  /**
   * Continue numbering at `offset` (an empty in-memory log in front of a store that has committed up to
   * there: a fresh process cannot have the events of an earlier one, so its offsets go on from the store's).
   */
  startAt(offset: number): void {
    if (this.size === 0 && offset > this.base) this.base = this.dropped = offset;
  }

  async close(): Promise<void> {}
}
