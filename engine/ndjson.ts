// Fast NDJSON reading: raw byte blocks, split on '\n' ourselves (readline costs ~2x), each complete block
// decoded once (pure ASCII, the usual case, by a near-copy; else UTF-8) and each line parsed once. A '\n'
// byte never occurs inside a multi-byte UTF-8 character, so splitting bytes at newlines is safe; only the
// partial line at a block's end is carried over (as bytes), never the whole block.
import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';

export interface NdjsonLine {
  /** 1-based line number in the file. */
  line: number;
  value?: unknown;
  /** Set when the line is not JSON. */
  error?: string;
}

const utf8 = new TextDecoder('utf-8');
const decode = (b: Buffer) => (isAscii(b) ? b.toString('ascii') : utf8.decode(b));

/** Yield arrays of parsed lines (about `chunk` lines each) so callers can batch. `blockBytes`: read size. */
export async function* readNdjson(file: string, chunk = 4096, blockBytes = 1 << 20): AsyncGenerator<NdjsonLine[]> {
  let line = 0;
  let batch: NdjsonLine[] = [];
  let rest: Buffer | null = null;
  const parse = (text: string) => {
    line++;
    // Blank (or whitespace-only) lines are skipped but counted; trim only when the line could be blank.
    if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return;
    try {
      batch.push({ line, value: JSON.parse(text) });
    } catch (err) {
      batch.push({ line, error: `line ${line}: not JSON (${(err as Error).message})` });
    }
  };
  /** Parse the complete lines of `text` (which ends at a line end). */
  const lines = (text: string) => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      parse(nl === -1 ? text.slice(start) : text.slice(start, nl));
      if (nl === -1) return;
      start = nl + 1;
    }
  };
  for await (const block of createReadStream(file, { highWaterMark: blockBytes }) as AsyncIterable<Buffer>) {
    let from = 0;
    if (rest) {
      // Finish the carried-over line with this block's bytes up to its first newline.
      const nl = block.indexOf(10);
      if (nl === -1) {
        rest = Buffer.concat([rest, block]);
        continue;
      }
      parse(decode(Buffer.concat([rest, block.subarray(0, nl)])));
      rest = null;
      from = nl + 1;
    }
    const last = block.lastIndexOf(10);
    if (last < from) {
      if (from < block.length) rest = Buffer.from(block.subarray(from));
    } else {
      if (last > from) lines(decode(block.subarray(from, last)));
      else parse('');
      if (last + 1 < block.length) rest = Buffer.from(block.subarray(last + 1));
    }
    if (batch.length >= chunk) {
      // Whole blocks are parsed at once; hand them out in chunks of the size asked for.
      for (let i = 0; i + chunk <= batch.length; i += chunk) yield batch.slice(i, i + chunk);
      batch = batch.slice(batch.length - (batch.length % chunk));
    }
  }
  if (rest) parse(decode(rest));
  if (batch.length) yield batch;
}

/** An NDJSON line is either `{"stream": s, "event": {...}}` or a bare event for the default stream. */
export function unwrap(value: unknown, defaultStream: string): { stream: string; event: unknown; at?: number } {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (typeof v.stream === 'string' && v.event && typeof v.event === 'object' && hasTwoKeys(v)) {
      return { stream: v.stream, event: v.event };
    }
    // A line of `loflow archive learner`: {stream, offset, at, event}; `at` is the archived arrival time.
    if (typeof v.stream === 'string' && v.event && typeof v.event === 'object' && typeof v.offset === 'number' && typeof v.at === 'number' && keyCount(v) === 4) {
      return { stream: v.stream, event: v.event, at: v.at };
    }
  }
  return { stream: defaultStream, event: value };
}

function keyCount(v: object): number {
  let n = 0;
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) n++;
  return n;
}

/** Object.keys(v).length === 2 without allocating the keys array (this runs once per replayed event). */
function hasTwoKeys(v: object): boolean {
  let n = 0;
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && ++n > 2) return false;
  return n === 2;
}
