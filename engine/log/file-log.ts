// A durable input log in a folder: NDJSON segment files, each append written and fsync'ed before it is
// acknowledged, so an event the sender saw accepted survives kill -9. Offsets are positions in the log.
// Segments wholly below the committed offset are deleted on truncate.
//
// Idempotent producers: an append may name a producer and the sequence number of its first event; events
// whose sequence is not above the highest one already logged for that producer are dropped as re-sends
// (an at-least-once client re-sends what it did not see acknowledged). The highest sequence per producer is
// rebuilt from the segments on open and kept in producers.json when segments are deleted.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';
import { ERASED_STREAM, isErased, tombstone } from '../erase/tombstone.js';
import { replaceFile } from '../erase/replace-file.js';
import { GroupCommit } from './group-commit.js';
import { takeRawJson, type RawJsonConsumer } from './raw-json.js';

type Entry = { stream: string; event: LoEvent; at: number; producer?: string; seq?: number };

interface Line {
  s: string;
  e: LoEvent;
  a: number;
  p?: string;
  q?: number;
  /** A tombstone: the event expired (engine/retention/file-log.ts); the line keeps its offset. */
  x?: 1;
}

/**
 * The segment lines of `entries`, each `{"s":…,"e":…,"a":…[,"p":…,"q":…]}\n` exactly as JSON.stringify of a
 * Line writes it, built by hand: an event parsed from an HTTP body is written as the text it arrived as
 * (raw-json.ts) rather than stringified again, and the stream name is stringified once per group.
 */
export function linesOf(entries: Entry[]): string {
  let out = '';
  let stream: string | undefined;
  let streamJson = '';
  for (const b of entries) {
    if (b.stream !== stream) {
      stream = b.stream;
      streamJson = JSON.stringify(stream);
    }
    const event = b.event as unknown;
    const e = (event !== null && typeof event === 'object' ? takeRawJson(event) : undefined) ?? JSON.stringify(event);
    // JSON.stringify leaves out a key whose value it cannot write (undefined): so does this.
    out += '{"s":' + streamJson + (e === undefined ? '' : ',"e":' + e) + field('a', b.at);
    if (b.producer !== undefined) out += field('p', b.producer) + field('q', b.seq);
    out += '}\n';
  }
  return out;
}

/** `,"k":<value as JSON>`, or nothing when JSON.stringify would leave the key out. */
function field(k: string, v: unknown): string {
  // A finite number (the time, a sequence) is written by String as JSON.stringify writes it, for less.
  const j = typeof v === 'number' && Number.isFinite(v) ? String(v) : JSON.stringify(v);
  return j === undefined ? '' : ',"' + k + '":' + j;
}

export class FileInputLog implements InputLog, RawJsonConsumer {
  readonly kind = 'file';
  readonly reusesRawJson = true;
  private entries: LoggedEvent[] = [];
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
    const p = join(dir, 'producers.json');
    if (existsSync(p)) for (const [k, v] of Object.entries(JSON.parse(readFileSync(p, 'utf8')) as Record<string, number>)) this.producers.set(k, v);
    const segments = this.segments();
    this.base = segments[0] ?? 0;
    this.next = this.base;
    for (const start of segments) {
      const text = readFileSync(this.segmentPath(start), 'utf8');
      // A torn last line (crash mid-write, never acknowledged) is dropped.
      const lines = text.split('\n');
      const complete = lines.slice(0, -1); // the part after the last newline is empty, or a torn line
      let offset = start;
      for (const l of complete) {
        const x = JSON.parse(l) as Line;
        if (x.x === 1) this.holes = true;
        this.entries.push({ offset: offset++, stream: x.s, event: x.e, at: x.a });
        if (x.p !== undefined && x.q !== undefined && x.q > (this.producers.get(x.p) ?? -Infinity)) this.producers.set(x.p, x.q);
      }
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
        for (let i = 0; i < this.entries.length; i++) if (!isErased(this.entries[i]) && match(this.entries[i])) this.entries[i] = tombstone(this.entries[i]);
        let dropped = false;
        for (const p of [...this.producers.keys()]) if (match({ offset: -1, stream: '', at: 0, event: { producer: p } })) dropped = this.producers.delete(p) || dropped;
        if (dropped) await replaceFile(join(this.dir, 'producers.json'), JSON.stringify(Object.fromEntries(this.producers)));
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
      // Roll to a new segment named by its first offset.
      await this.file?.close();
      this.file = null;
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
    if (from < this.base) return this.readDisk(from, Math.min(max, this.base - from));
    const start = from - this.base;
    if (!this.holes) return this.entries.slice(start, start + max);
    // Tombstones (expired) are skipped; a range of only tombstones reads on, so a reader never sees an
    // empty answer while events follow (it would take it for the log's end).
    let out: LoggedEvent[] = [];
    for (let at = start; out.length === 0 && at < this.entries.length; at += max) out = this.entries.slice(at, at + max).filter((e) => e.event !== undefined);
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
      const lines = readFileSync(this.segmentPath(start), 'utf8').split('\n');
      for (let j = Math.max(0, from - start); j < lines.length - 1 && start + j < stop; j++) {
        const x = JSON.parse(lines[j]) as Line;
        if (x.x !== 1) out.push({ offset: start + j, stream: x.s, event: x.e, at: x.a });
      }
    }
    return out;
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
    const tmp = join(this.dir, 'producers.json.tmp');
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.producers)));
    renameSync(tmp, join(this.dir, 'producers.json'));
    for (const s of doomed) unlinkSync(this.segmentPath(s));
  }

  async close(): Promise<void> {
    await this.group.drain();
    await this.file?.close();
    this.file = null;
  }
}
