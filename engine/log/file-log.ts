// A durable input log in a folder: NDJSON segment files, each append written and fsync'ed before it is
// acknowledged, so an event the sender saw accepted survives kill -9. Offsets are positions in the log.
// Segments wholly below the committed offset are deleted on truncate.
//
// Idempotent producers: an append may name a producer and the sequence number of its first event; events
// whose sequence is not above the highest one already logged for that producer are dropped as re-sends
// (an at-least-once client re-sends what it did not see acknowledged). The highest sequence per producer is
// rebuilt from the segments on open and kept in producers.json when segments are deleted.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InputLog, LoEvent, LoggedEvent } from '../types.js';

interface Line {
  s: string;
  e: LoEvent;
  a: number;
  p?: string;
  q?: number;
}

export class FileInputLog implements InputLog {
  readonly kind = 'file';
  private entries: LoggedEvent[] = [];
  private base = 0;
  private next = 0;
  private fd = -1;
  private segmentStart = 0;
  private segmentCount = 0;
  private readonly producers = new Map<string, number>();

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

  async append(batch: Array<{ stream: string; event: LoEvent; at: number; producer?: string; seq?: number }>): Promise<{ first: number; count: number }> {
    const first = this.next;
    const fresh = batch.filter((b) => b.producer === undefined || b.seq === undefined || b.seq > (this.producers.get(b.producer) ?? -Infinity));
    if (fresh.length === 0) return { first, count: 0 };
    if (this.segmentCount >= this.segmentEvents) {
      // Roll to a new segment named by its first offset.
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
      this.segmentStart = this.next;
      this.segmentCount = 0;
    }
    if (this.fd < 0) this.fd = openSync(this.segmentPath(this.segmentStart), 'a');
    const text = fresh.map((b) => JSON.stringify({ s: b.stream, e: b.event, a: b.at, ...(b.producer !== undefined ? { p: b.producer, q: b.seq } : {}) } satisfies Line)).join('\n') + '\n';
    writeSync(this.fd, text);
    fsyncSync(this.fd);
    for (const b of fresh) {
      this.entries.push({ offset: this.next++, stream: b.stream, event: b.event, at: b.at });
      if (b.producer !== undefined && b.seq !== undefined) this.producers.set(b.producer, b.seq);
    }
    this.segmentCount += fresh.length;
    return { first, count: fresh.length };
  }

  async read(from: number, max: number): Promise<LoggedEvent[]> {
    const start = Math.max(0, from - this.base);
    return this.entries.slice(start, start + max);
  }

  async end(): Promise<number> {
    return this.next;
  }

  /** Continue numbering at `offset` when the log is empty and the store has committed up to there. */
  startAt(offset: number): void {
    if (this.entries.length === 0 && this.next < offset) {
      this.base = this.next = this.segmentStart = offset;
      this.segmentCount = 0;
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
    }
  }

  async truncate(offset: number): Promise<void> {
    const n = offset - this.base;
    if (n < 16384 && !(n > 0 && n === this.entries.length)) return;
    this.entries = this.entries.slice(n);
    this.base = offset;
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
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
