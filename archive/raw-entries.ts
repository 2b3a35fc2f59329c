// A stream's archived entries as positions in their chunks' bytes, not decoded: what a study export needs
// to rewrite events on their bytes (deidentify-bytes.ts). Only for what that path reproduces exactly: a
// format 2 index with no legacy chain, plaintext chunks, entries that carry their stream position `i`.
import { CID } from './blocks.js';
import { head, major, NotPlain, numberAt, readHead, skip, text } from './cbor-bytes.js';
import type { CommitBlock } from './format.js';
import { readIndex, type BlockSource } from './read.js';

export interface RawEntry {
  /** Position in the stream (entries are returned in this order). */
  i: number;
  o: number;
  t: number;
  /** The chunk's bytes, and where the event's bytes start and end in them. */
  b: Uint8Array;
  from: number;
  to: number;
}

/**
 * Each chunk's entries of the stream, chunk by chunk as read (chains are read several at once: in no
 * particular order; each entry's `i` is its stream position). False when the stream is not stored as this
 * reader expects (then some chunks may have been handed over already: the caller discards what it got).
 */
export async function forEachRawChunk(src: BlockSource, commit: CommitBlock, stream: string, onChunk: (entries: RawEntry[]) => void): Promise<boolean> {
  if (commit.crypto) return false;
  const idx = await readIndex(src, commit, stream);
  if (!idx || idx.legacy) return false;
  const chains = [...Object.values(idx.learners), ...(idx.other ? [idx.other] : [])];
  let plain = true;
  // A chain is read block after block (each names the one before), so several chains are read at once: one
  // chain alone leaves the disk, and this thread, waiting on each read in turn.
  let next = 0;
  const reader = async () => {
    while (plain && next < chains.length) {
      const chain = chains[next++];
      for (let cid: CID | null = chain.head; cid && plain; ) {
        const c = chunkEntries(await src.get(cid));
        if (!c) plain = false;
        else {
          if (plain) onChunk(c.entries);
          cid = c.prev;
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(8, chains.length) }, reader));
  } catch (err) {
    plain = false; // the other readers stop at their next block instead of reading on for nothing
    if (err instanceof NotPlain) return false;
    throw err;
  }
  return plain;
}

/** A plaintext chunk's `prev` and entries; null for anything else (an encrypted chunk, an entry without `i`). */
function chunkEntries(b: Uint8Array): { prev: CID | null; entries: RawEntry[] } | null {
  readHead(b, 0);
  if (major() !== 5) return null;
  let q = head.at;
  let prev: CID | null = null;
  let type = '';
  let entries: RawEntry[] | null = null;
  for (let k = head.arg; k > 0; k--) {
    readHead(b, q);
    if (major() !== 3) return null;
    const key = text(b, head.at, head.at + head.arg);
    q = head.at + head.arg;
    if (key === 'prev') {
      readHead(b, q);
      if (major() === 7 && head.info === 22) q = head.at;
      else {
        // A link: tag 42 around bytes 0x00 + the CID.
        if (major() !== 6 || head.arg !== 42) return null;
        readHead(b, head.at);
        if (major() !== 2) return null;
        prev = CID.decode(b.subarray(head.at + 1, head.at + head.arg));
        q = head.at + head.arg;
      }
    } else if (key === 'type') {
      readHead(b, q);
      if (major() !== 3) return null;
      type = text(b, head.at, head.at + head.arg);
      q = head.at + head.arg;
    } else if (key === 'events') {
      readHead(b, q);
      if (major() !== 4) return null;
      const n = head.arg;
      q = head.at;
      entries = [];
      for (let j = 0; j < n; j++) {
        const e = entry(b, q);
        if (!e) return null;
        entries.push(e.entry);
        q = e.end;
      }
    } else if (key === 'enc') return null;
    else q = skip(b, q);
  }
  if (type !== 'loflow/chunk' || !entries) return null;
  return { prev, entries };
}

function entry(b: Uint8Array, p: number): { entry: RawEntry; end: number } | null {
  readHead(b, p);
  if (major() !== 5) return null;
  let q = head.at;
  let i = NaN;
  let o = NaN;
  let t = NaN;
  let from = -1;
  let to = -1;
  for (let k = head.arg; k > 0; k--) {
    readHead(b, q);
    if (major() !== 3 || head.arg !== 1) return null;
    const key = b[head.at];
    q = head.at + 1;
    if (key === 0x65) {
      from = q;
      q = to = skip(b, q);
    } else {
      const v = numberAt(b, q);
      if (v === undefined) return null;
      q = skip(b, q);
      if (key === 0x69) i = v;
      else if (key === 0x6f) o = v;
      else if (key === 0x74) t = v;
      else return null;
    }
  }
  if (from < 0 || Number.isNaN(i) || Number.isNaN(o) || Number.isNaN(t)) return null;
  return { entry: { i, o, t, b, from, to }, end: q };
}
