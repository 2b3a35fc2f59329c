// A durable input log in a folder: NDJSON segment files, each append written and fsync'ed before it is
// acknowledged, so an event the sender saw accepted survives kill -9. Offsets are positions in the log.
// Segments wholly below the committed offset are deleted on truncate.
//
// Idempotent producers: an append may name a producer and the sequence number of its first event; events
// whose sequence is not above the highest one already logged for that producer are dropped as re-sends
// (an at-least-once client re-sends what it did not see acknowledged). The highest sequence per producer is
// kept in producers.json when a segment is closed or deleted, and read from the open segments on open.
import { mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { InputLog, LoggedEvent } from '../types.js';
import { ERASED_STREAM, isErased, tombstone } from '../erase/tombstone.js';
import { replaceFile } from '../erase/replace-file.js';
import { GroupCommit } from './group-commit.js';
import type { RawJsonConsumer } from './raw-json.js';
import { fromLine, linesOf, producerAtEnd, producersJson, readProducers, saveProducers, type Entry, type Line } from './segment-lines.js';

export class FileInputLog implements InputLog, RawJsonConsumer {
  readonly kind = 'file';
  readonly reusesRawJson = true;
  /** base … next - 1: parsed, or still a segment line (read from disk on open, parsed when first read). */
  private entries: Array<LoggedEvent | string> = [];
  private base = 0;
  private next = 0;
  private file: FileHandle | null = null;
  private fileSize = 0;
  private readonly group = new GroupCommit<Entry[], { first: number; count: number }>((g) => this.flushGroup(g));
  private segmentStart = 0;
  private segmentCount = 0;
  private readonly producers = new Map<string, number>();
  /** Some entries in memory are tombstones (expired by retention): reads leave them out. */
  private holes = false;

  constructor(
    readonly dir: string,
    private readonly segmentEvents = 50_000,
  ) {
    mkdirSync(dir, { recursive: true });
    const known = readProducers(dir);
    for (const [k, v] of known.producers) this.producers.set(k, v);
    const segments = this.segments();
    // Segments wholly below what producers.json covers are read only if a reader asks for them (readDisk):
    // a restart replays from the committed offset, near the end, and reading the whole log first was most
    // of a restart's time. The rest is read now, its lines kept as text until read.
    let first = 0;
    while (first < segments.length - 1 && segments[first + 1] <= known.through) first++;
    this.base = segments[first] ?? 0;
    this.next = this.base;
    for (const start of segments.slice(first)) {
      const text = readFileSync(this.segmentPath(start), 'utf8');
      // A torn last line (crash mid-write, never acknowledged) is dropped.
      const lines = text.split('\n');
      const complete = lines.slice(0, -1); // the part after the last newline is empty, or a torn line
      for (const l of complete) {
        if (!this.holes && l.includes(',"x":1')) this.holes = true; // a tombstone, or maybe text that looks like one
        const pq = producerAtEnd(l);
        if (pq !== undefined && pq[1] > (this.producers.get(pq[0]) ?? -Infinity)) this.producers.set(pq[0], pq[1]);
        this.entries.push(l);
      }
      const offset = start + complete.length;
      if (!text.endsWith('\n') && lines.at(-1) !== '') writeFileSync(this.segmentPath(start), complete.map((l) => l + '\n').join(''));
      this.next = offset;
      this.segmentStart = start;
      this.segmentCount = offset - start;
    }
    if (segments.length === 0) this.segmentStart = 0;
  }

  private segments(): number[] {
    return readdirSync(this.dir)
      .map((f) => /^segment-(\d+)\.ndjson$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private segmentPath(start: number): string {
    return join(this.dir, `segment-${String(start).padStart(12, '0')}.ndjson`);
  }

  /** Highest sequence number logged for a producer (undefined when none). */
  producerSeq(producer: string): number | undefined {
    return this.producers.get(producer);
  }

  /**
   * Appends that arrive while a write is in flight wait and then go out together: one write and one fsync for
   * the whole group (group commit), so many concurrent senders cost one disk flush, not one each.
   */
  append(batch: Entry[]): Promise<{ first: number; count: number }> {
    return this.group.submit(batch);
  }

  /** Appends and erasures take turns: an erasure rewrites the segment an append would write to. */
  private turn: Promise<unknown> = Promise.resolve();
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  private flushGroup(group: Entry[][]): Promise<Array<{ first: number; count: number }>> {
    return this.exclusive(() => this.writeGroup(group));
  }

  /**
   * `loflow erase`: every matching event becomes a tombstone line (same offset; engine/erase/tombstone.ts),
   * in memory and in each segment on disk (rewritten atomically: replace-file.ts). The open segment is
   * closed first, so the next append opens the rewritten file.
   */
  erase(match: (e: LoggedEvent) => boolean, dryRun: boolean): Promise<number> {
    return this.exclusive(async () => {
      let n = 0;
      const segments = this.segments();
      for (const start of segments) {
        const path = this.segmentPath(start);
        const lines = readFileSync(path, 'utf8').split('\n');
        let changed = false;
        for (let j = 0; j < lines.length; j++) {
          if (lines[j] === '') continue;
          const x = JSON.parse(lines[j]) as Line;
          const e = { offset: start + j, stream: x.s, event: x.e, at: x.a };
          if (isErased(e) || !match(e)) continue;
          n++;
          changed = true;
          // The producer's sequence stays (re-sends are still recognised after a restart) unless its id names the learner.
          const keepProducer = x.p !== undefined && !match({ ...e, event: { producer: x.p } });
          lines[j] = linesOf([{ stream: ERASED_STREAM, event: {}, at: x.a, ...(keepProducer ? { producer: x.p, seq: x.q } : {}) }]).slice(0, -1);
        }
        if (!changed || dryRun) continue;
        if (start === this.segmentStart && this.file) {
          await this.file.close();
          this.file = null;
        }
        await replaceFile(path, lines.join('\n'));
      }
      if (!dryRun) {
        for (const [i, e] of this.parsed(0, this.entries.length).entries()) if (!isErased(e) && match(e)) this.entries[i] = tombstone(e);
        let dropped = false;
        for (const p of [...this.producers.keys()]) if (match({ offset: -1, stream: '', at: 0, event: { producer: p } })) dropped = this.producers.delete(p) || dropped;
        if (dropped) await replaceFile(join(this.dir, 'producers.json'), producersJson(this.producers, this.next));
        this.disk = undefined;
      }
      return n;
    });
  }

  private async writeGroup(group: Entry[][]): Promise<Array<{ first: number; count: number }>> {
    // Producer re-sends are dropped against what is logged and what this group already holds.
    const claimed = new Map<string, number>();
    const highest = (p: string) => claimed.get(p) ?? this.producers.get(p) ?? -Infinity;
    const fresh: Entry[] = [];
    const results: Array<{ first: number; count: number }> = [];
    for (const batch of group) {
      const first = this.next + fresh.length;
      for (const b of batch) {
        if (b.producer !== undefined && b.seq !== undefined) {
          if (b.seq <= highest(b.producer)) continue;
          claimed.set(b.producer, b.seq);
        }
        fresh.push(b);
      }
      results.push({ first, count: this.next + fresh.length - first });
    }
    if (fresh.length) {
      await this.write(linesOf(fresh));
      for (const b of fresh) this.entries.push({ offset: this.next++, stream: b.stream, event: b.event, at: b.at });
      for (const [p, q] of claimed) this.producers.set(p, q);
      this.segmentCount += fresh.length;
    }
    return results;
  }

  /** Write and fsync; a failed write is cut off again, so no torn line stays in the middle of a segment. */
  private async write(text: string): Promise<void> {
    if (this.segmentCount >= this.segmentEvents) {
      // Roll to a new segment named by its first offset. The producers' sequences so far are saved, so a
      // restart need not read the closed segments to know them.
      await this.file?.close();
      this.file = null;
      saveProducers(this.dir, this.producers, this.next);
      this.segmentStart = this.next;
      this.segmentCount = 0;
    }
    if (!this.file) {
      this.file = await open(this.segmentPath(this.segmentStart), 'a');
      this.fileSize = (await this.file.stat()).size;
    }
    const data = Buffer.from(text);
    try {
      await this.file.write(data);
      await this.file.sync();
      this.fileSize += data.length;
    } catch (err) {
      await this.file.truncate(this.fileSize).catch(() => undefined);
      throw err;
    }
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    if (from < this.base) {
      // Below what is in memory (released, or not read at open): from the segments, then on in memory.
      const n = Math.min(max, this.base - from);
      const disk = this.readDisk(from, n);
      if (disk.length === 0) return this.read(from + n, max); // only tombstones there: read on (see below)
      return n < max ? disk.concat(await this.read(this.base, max - n)) : disk;
    }
    const start = from - this.base;
    if (!this.holes) return this.parsed(start, start + max);
    // Tombstones (expired) are skipped; a range of only tombstones reads on, so a reader never sees an
    // empty answer while events follow (it would take it for the log's end).
    let out: LoggedEvent[] = [];
    for (let at = start; out.length === 0 && at < this.entries.length; at += max) out = this.parsed(at, at + max).filter((e) => e.event !== undefined);
    return out;
  }

  /** entries[from, to) parsed (and kept parsed: the consumer and the archive's refeed may both read them). */
  private parsed(from: number, to: number): LoggedEvent[] {
    const n = Math.max(0, Math.min(to, this.entries.length) - from);
    const out = new Array<LoggedEvent>(n);
    for (let i = 0; i < n; i++) {
      const e = this.entries[from + i];
      out[i] = typeof e === 'string' ? (this.entries[from + i] = fromLine(this.base + from + i, e)) : e;
    }
    return out;
  }

  /** Events released from memory (see release) are read back from their segments. */
  private readDisk(from: number, max: number): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    const stop = from + max; // offsets [from, stop): tombstones (expired) take their offset but are not returned
    const segments = this.segments();
    for (let i = 0; i < segments.length && segments[i] < stop; i++) {
      const start = segments[i];
      const end = segments[i + 1] ?? Infinity;
      if (end <= from) continue;
      const lines = this.segmentLines(start, Math.min(stop, end) - start);
      for (let j = Math.max(0, from - start); j < lines.length - 1 && start + j < stop; j++) {
        const x = JSON.parse(lines[j]) as Line;
        if (x.x !== 1) out.push({ offset: start + j, stream: x.s, event: x.e, at: x.a });
      }
    }
    return out;
  }

  /**
   * The last segment readDisk read, split into lines: a reader goes through a segment in many reads. Read
   * again when it lacks lines asked for (the open segment grows after it was read).
   */
  private disk: { start: number; lines: string[] } | undefined;
  private segmentLines(start: number, lines: number): string[] {
    if (this.disk?.start !== start || this.disk.lines.length - 1 < lines) this.disk = { start, lines: readFileSync(this.segmentPath(start), 'utf8').split('\n') };
    return this.disk.lines;
  }

  /** Committed events may leave memory; they stay on disk (a restart replays them: see the engine). */
  release(offset: number): void {
    const n = offset - this.base;
    if (n < 16384 && !(n > 0 && n === this.entries.length)) return;
    this.entries = this.entries.slice(n);
    this.base = offset;
  }

  async end(): Promise<number> {
    return this.next;
  }

  /** Continue numbering at `offset` when the log is empty and the store has committed up to there. */
  startAt(offset: number): void {
    if (this.entries.length === 0 && this.next < offset) {
      this.base = this.next = this.segmentStart = offset;
      this.segmentCount = 0;
      // Nothing is open yet at startAt (the engine calls it before any append).
    }
  }

  async truncate(offset: number): Promise<void> {
    const n = offset - this.base;
    if (n < 16384 && !(n > 0 && n === this.entries.length)) return;
    this.release(offset);
    // Delete whole segments below the committed offset; remember producers' sequences first.
    const segments = this.segments();
    const doomed = segments.filter((s, i) => (segments[i + 1] ?? Infinity) <= offset && s !== this.segmentStart);
    if (doomed.length === 0) return;
    saveProducers(this.dir, this.producers, this.next);
    this.disk = undefined;
    for (const s of doomed) unlinkSync(this.segmentPath(s));
  }

  async close(): Promise<void> {
    await this.group.drain();
    await this.file?.close();
    this.file = null;
  }
}
