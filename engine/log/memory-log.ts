// The embedded default input log: an in-process queue of accepted events. Not durable: with it, loflow
// keeps exactly-once state effects within a process but loses unprocessed events on a crash (see README).
// Like the durable logs, it drops producers' re-sends (an at-least-once client's retry of a batch whose
// answer it lost, or of one it gave up on that was appended after all), within the process's lifetime.
import { isErased, tombstone } from '../erase/tombstone.js';
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';

type Entry = { offset?: number; stream: string; event: LoEvent; at: number; producer?: string; seq?: number };

/** Gaps kept per producer (sequences sent out of order, or never logged: rejected events); past it the lowest is taken as filled. */
const MAX_RANGES = 64;
/** Producers remembered; past it the least recently seen one is forgotten (its later re-sends are not recognised). */
const MAX_PRODUCERS = 100_000;

/**
 * The sequence numbers logged for one producer, as sorted disjoint ranges [lo0, hi0, lo1, hi1, ...]: an
 * in-order sender has one range (its highest contiguous sequence is hi0), so memory is bounded by the
 * gaps, not the events. Unlike "drop anything not above the highest", a batch that arrives after a later one
 * (concurrent sends) is not mistaken for a re-send.
 */
export class SeqRanges {
  private r: number[] = [];

  /** Index (even) of the last range with lo <= seq, or -2. */
  private find(seq: number): number {
    const r = this.r;
    // The usual case, an in-order sender: the last range.
    if (r.length && r[r.length - 2] <= seq) return r.length - 2;
    let lo = 0;
    let hi = r.length / 2 - 1;
    let at = -2;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (r[2 * mid] <= seq) {
        at = 2 * mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at;
  }

  /** Add `seq`; false when it was there already (a re-send). */
  add(seq: number): boolean {
    const r = this.r;
    const i = this.find(seq);
    if (i >= 0 && seq <= r[i + 1]) return false;
    const next = i + 2 < r.length && r[i + 2] === seq + 1;
    if (i >= 0 && r[i + 1] === seq - 1) {
      if (next) r.splice(i + 1, 2); // seq fills the gap: the two ranges become one
      else r[i + 1] = seq;
    } else if (next) r[i + 2] = seq;
    else r.splice(i + 2, 0, seq, seq);
    if (r.length > 2 * MAX_RANGES) r.splice(1, 2); // fill the lowest gap: memory stays bounded
    return true;
  }

  /** The highest sequence up to which every one since the first is logged. */
  contiguous(): number | undefined {
    return this.r[1];
  }
}

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

  private readonly producers = new Map<string, SeqRanges>();

  /** The sequences logged for a producer (undefined when none). */
  producerSeqs(producer: string): SeqRanges | undefined {
    return this.producers.get(producer);
  }

  /** A producer's ranges, marked as seen last (the Map's order is least recently seen first). */
  private touch(producer: string): SeqRanges {
    let ranges = this.producers.get(producer);
    if (ranges) this.producers.delete(producer);
    else {
      ranges = new SeqRanges();
      if (this.producers.size >= MAX_PRODUCERS) this.producers.delete(this.producers.keys().next().value!);
    }
    this.producers.set(producer, ranges);
    return ranges;
  }

  async append(batch: Entry[]): Promise<{ first: number; count: number }> {
    const first = this.base + this.size;
    let offset = first;
    let last = this.chunks[this.chunks.length - 1];
    let producer: string | undefined;
    let ranges: SeqRanges | undefined;
    for (const e of batch) {
      if (e.producer !== undefined && e.seq !== undefined) {
        if (e.producer !== producer) ranges = this.touch((producer = e.producer));
        if (!ranges!.add(e.seq)) continue; // a re-send
      }
      if (!last || last.length === CHUNK) this.chunks.push((last = []));
      // An entry already shaped as a LoggedEvent (the engine builds them so) becomes it: one object per event.
      if (e.offset !== undefined && e.producer === undefined) {
        e.offset = offset++;
        last.push(e as LoggedEvent);
      } else last.push({ offset: offset++, stream: e.stream, event: e.event, at: e.at });
    }
    this.size += offset - first;
    return { first, count: offset - first };
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

  /** `loflow erase`: matching entries still held become tombstones (same offset, nothing else). */
  async erase(match: (e: LoggedEvent) => boolean, dryRun: boolean): Promise<number> {
    let n = 0;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length; i++) {
        const e = chunk[i];
        if (!e || isErased(e) || !match(e)) continue;
        n++;
        if (!dryRun) chunk[i] = tombstone(e);
      }
    }
    return n;
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
   * Retention: drop the leading entries that arrived before `before` and are below `safeBelow` (applied).
   * The engine truncates this log after every batch, so there are rarely any; an applied event is never
   * kept here for longer than it takes to commit. Returns how many went.
   */
  async expire(before: number, safeBelow: number): Promise<number> {
    let end = Math.max(this.dropped, this.base);
    const stop = Math.min(safeBelow, this.base + this.size);
    while (end < stop) {
      const e = this.chunks[Math.floor((end - this.base) / CHUNK)][(end - this.base) % CHUNK];
      if (!e || e.at >= before) break;
      end++;
    }
    const n = end - Math.max(this.dropped, this.base);
    if (n > 0) await this.truncate(end);
    return n;
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
