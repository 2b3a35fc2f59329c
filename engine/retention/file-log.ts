// Retention in the file input log (engine/log/file-log.ts). Offsets there are positions (a segment's name is
// its first offset, each line the next), so an expired record cannot just be cut out: its line is
// overwritten in place by a tombstone of the same byte length, `{"s":…,"x":1,"a":…[,"p":…,"q":…]}` padded
// with spaces (stream, arrival and the producer's sequence stay: offsets and re-send detection are kept;
// the event is gone). A leading segment whose records are all expired is deleted whole, as truncation does.
// Only records below `safeBelow` (applied to the states and durably archived) are touched, and never the
// last segment's file as a whole (a running server appends to it): an in-place write of bytes it has
// written already does not disturb its appends.
import { existsSync, openSync, closeSync, fsyncSync, readFileSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { readProducers, saveProducers } from '../log/segment-lines.js';

export interface LogExpiry {
  /** Records whose event was removed (or would be, with dryRun). */
  removed: number;
  /** Segment files deleted whole. */
  segments: number;
  /** Expired records left because they are not yet applied or archived (at or past safeBelow). */
  pending: number;
}

interface Line {
  s: string;
  e?: unknown;
  a: number;
  p?: string;
  q?: number;
  x?: 1;
}

const segmentName = /^segment-(\d+)\.ndjson$/;

/** The tombstone of a record: the same fields but the event, as compact JSON. */
export function tombstone(x: Line): string {
  const t: Line = { s: x.s, x: 1, a: x.a };
  if (x.p !== undefined) {
    t.p = x.p;
    t.q = x.q;
  }
  return JSON.stringify(t);
}

export function expireFileLog(dir: string, before: number, safeBelow: number, dryRun = false): LogExpiry {
  const out: LogExpiry = { removed: 0, segments: 0, pending: 0 };
  if (!existsSync(dir)) return out;
  const starts = readdirSync(dir)
    .map((f) => segmentName.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const path = (s: number) => join(dir, `segment-${String(s).padStart(12, '0')}.ndjson`);
  const producers = new Map<string, number>();
  let leading = true;
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i];
    const end = starts[i + 1] ?? Infinity;
    const file = path(start);
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').slice(0, -1); // a torn last line (never acknowledged) is left alone
    const targets: Array<{ pos: number; bytes: number; line: Line }> = [];
    let pos = 0;
    let allGone = true;
    for (let j = 0; j < lines.length; j++) {
      const bytes = Buffer.byteLength(lines[j]);
      const x = JSON.parse(lines[j]) as Line;
      if (x.p !== undefined && x.q !== undefined && x.q > (producers.get(x.p) ?? -Infinity)) producers.set(x.p, x.q);
      if (x.x !== 1) {
        if (x.a >= before) allGone = false;
        else if (start + j >= safeBelow) {
          out.pending++;
          allGone = false;
        } else targets.push({ pos, bytes, line: x });
      }
      pos += bytes + 1;
    }
    const whole: boolean = leading && allGone && end !== Infinity && end <= safeBelow;
    leading &&= whole;
    out.removed += targets.length;
    if (dryRun || (!whole && targets.length === 0)) continue;
    if (whole) {
      // The producers' sequences of a deleted segment live on in producers.json (as truncation keeps them).
      mergeProducers(dir, producers);
      unlinkSync(file);
      out.segments++;
      continue;
    }
    const fd = openSync(file, 'r+');
    try {
      for (const t of targets) {
        const stone = tombstone(t.line);
        const bytes = Buffer.byteLength(stone);
        if (bytes > t.bytes) throw new Error(`a tombstone would be longer than the record it replaces in ${file}`); // cannot happen: a record holds its event
        writeSync(fd, stone + ' '.repeat(t.bytes - bytes), t.pos);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

/** Merge the sequences into producers.json (the highest per producer), replaced atomically. */
function mergeProducers(dir: string, seen: Map<string, number>): void {
  const { through, producers } = readProducers(dir);
  for (const [p, q] of seen) if (!(q <= (producers.get(p) ?? -Infinity))) producers.set(p, q);
  saveProducers(dir, producers, through);
}
