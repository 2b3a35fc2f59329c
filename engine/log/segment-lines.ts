// The file log's on-disk format (engine/log/file-log.ts): a segment line per event,
// `{"s":<stream>,"e":<event>,"a":<arrival>[,"p":<producer>,"q":<sequence>]}`, or a tombstone
// (`"x":1`, no event), and producers.json, the producers' highest sequences below an offset.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LoEvent, LoggedEvent } from '../types.js';
import { takeRawJson } from './raw-json.js';

export type Entry = { stream: string; event: LoEvent; at: number; producer?: string; seq?: number };

export interface Line {
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

/**
 * producers.json: each producer's highest sequence in the lines below `through` (saved when a segment is
 * closed or deleted). Earlier versions wrote the map alone: it then covers no line for certain (through 0).
 * A file that cannot be read as either covers nothing.
 */
export function readProducers(dir: string): { through: number; producers: Map<string, number> } {
  const p = join(dir, 'producers.json');
  const producers = new Map<string, number>();
  if (!existsSync(p)) return { through: 0, producers };
  let x: unknown;
  try {
    x = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return { through: 0, producers };
  }
  const o = (x ?? {}) as { through?: unknown; producers?: unknown };
  const saved = typeof o.producers === 'object' && o.producers !== null && typeof o.through === 'number';
  for (const [k, v] of Object.entries((saved ? o.producers : o) as Record<string, unknown>)) if (typeof v === 'number') producers.set(k, v);
  return { through: saved ? (o.through as number) : 0, producers };
}

export function producersJson(producers: Map<string, number>, through: number): string {
  return JSON.stringify({ through, producers: Object.fromEntries(producers) });
}

/** producers.json replaced atomically (written beside, fsync'ed, renamed): it stands in for closed segments. */
export function saveProducers(dir: string, producers: Map<string, number>, through: number): void {
  const file = join(dir, 'producers.json');
  // Per process: retention run from the CLI merges into the file while a server's log may save it.
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, producersJson(producers, through));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** A segment line as the event it logs (a tombstone, expired, has none). */
export function fromLine(offset: number, line: string): LoggedEvent {
  const x = JSON.parse(line) as Line;
  return { offset, stream: x.s, event: x.e, at: x.a };
}

/**
 * The producer and sequence a line ends with (`…,"p":"<id>","q":<n>}`: linesOf writes them last), found
 * without parsing the event; a line whose end does not read plainly that way is parsed whole.
 */
export function producerAtEnd(line: string): [string, number] | undefined {
  const q = line.lastIndexOf(',"q":');
  if (q < 0) return undefined;
  // Only the real field has nothing but a number after it (one inside the event is followed by "a"); else
  // (a tombstone padded with spaces, a sequence that is not a number) the line is parsed.
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?\}$/.test(line.slice(q + 5))) return producerOf(line);
  // The producer is the JSON string just before: its opening quote is the first one back that is not escaped.
  let k = q - 2;
  for (; k > 0; k--) {
    if (line.charCodeAt(k) !== 0x22) continue;
    let slashes = 0;
    while (line.charCodeAt(k - 1 - slashes) === 0x5c) slashes++;
    if (slashes % 2 === 0) break;
  }
  if (line.charCodeAt(q - 1) === 0x22 && k > 5 && line.slice(k - 5, k) === ',"p":') {
    try {
      return [JSON.parse(line.slice(k, q)) as string, Number(line.slice(q + 5, -1))];
    } catch {
      // not a plain string after all: parse the line
    }
  }
  return producerOf(line);
}

function producerOf(line: string): [string, number] | undefined {
  const x = JSON.parse(line) as Line;
  return x.p !== undefined && x.q !== undefined ? [x.p, x.q] : undefined;
}
