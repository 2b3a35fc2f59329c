// A chunk's DAG-CBOR bytes assembled from its events' bytes, each encoded once as it arrives. The writer
// used to hold events as objects and encode every pending chunk at the archive commit: with one chain per
// learner, a commit encoded everything of the last `commit_every` at once (seconds of the writer thread, and
// processing waited for it once the writer fell behind). The bytes are those of encoding the whole chunk:
// DAG-CBOR encodes an array as its header and its items' bytes, and a map's entries in a fixed key order
// (length first, then bytewise), so a map can be assembled from the encodings of its parts.
import * as dagCbor from '@ipld/dag-cbor';
import { encodeNormalized, type CID } from './blocks.js';
import type { ArchivedEntry } from './format.js';
import { Out } from './cbor-bytes.js';
import { encodeJson } from './json-cbor.js';

/** A pending event: its offset (erasure filters by it) and its DAG-CBOR bytes. */
export interface PendingEntry {
  o: number;
  b: Uint8Array;
}

export function pendingEntry(entry: ArchivedEntry): PendingEntry {
  // Per entry as normalize would treat it inside the chunk: normalize maps an array's items one by one.
  // Plain JSON (every event that came as JSON) takes the fast encoder; the rest the generic one.
  return { o: entry.o, b: encodeJson(entry) ?? encodeNormalized(entry) };
}

/**
 * Room kept in front of a chain's first entry: when the chain is cut, the chunk's fields before its events
 * (prev link, type, count, the events key and the array's head: under 100 bytes) are written there, so the
 * chunk's bytes are this buffer, not a copy of it (a copy was a fresh ~1 MB allocation per chunk).
 */
const ROOM = 128;

/**
 * A chain's events since its last chunk: their entries' bytes back to back in one buffer of the chain's, and
 * their offsets. Not an object per event: a chain holds up to a chunk of events (1,000) until it is cut, and
 * with a chain per learner that was up to hundreds of thousands of small objects living long enough for the
 * garbage collector to copy them out of the young heap (a quarter of the writer thread's time).
 */
export class PendingEvents {
  /** [ROOM, ...) the entries' bytes (empty until the first event: a chain per learner, most of them idle). */
  private readonly out = new Out(0);
  /** Each event's offset (erasure filters by it). */
  private readonly offsets: number[] = [];
  /** Where each entry's bytes end. */
  private readonly ends: number[] = [];

  static from(entries: readonly PendingEntry[]): PendingEvents {
    const p = new PendingEvents();
    for (const e of entries) p.push(e.o, e.b);
    return p;
  }

  get length(): number {
    return this.offsets.length;
  }

  private start(): Out {
    if (this.out.length === 0) this.out.length = ROOM; // grown to fit by the first write
    return this.out;
  }

  /** Adds an entry (copied: `bytes` may be a view into a shared buffer). */
  push(offset: number, bytes: Uint8Array): void {
    const out = this.start();
    out.bytes(bytes, 0, bytes.length);
    this.offsets.push(offset);
    this.ends.push(out.length);
  }

  /** Adds the entry `{o, t, e, i}` around an event's DAG-CBOR bytes `e`, written in place (pendingEntry's encoding). */
  pushEntry(o: number, t: number, e: Uint8Array, i: number): void {
    const out = this.start();
    out.bytes(ENTRY_HEAD, 0, ENTRY_HEAD.length); // key order e, i, o, t
    out.bytes(e, 0, e.length);
    out.byte(0x61);
    out.byte(0x69); // 'i'
    out.number(i);
    out.byte(0x61);
    out.byte(0x6f); // 'o'
    out.number(o);
    out.byte(0x61);
    out.byte(0x74); // 't'
    out.number(t);
    this.offsets.push(o);
    this.ends.push(out.length);
  }

  /** Keeps the first n events (a failed append is undone). */
  truncate(n: number): void {
    if (n >= this.offsets.length) return;
    this.out.length = n === 0 ? 0 : this.ends[n - 1];
    this.offsets.length = n;
    this.ends.length = n;
  }

  /** The events whose offset passes `keep`, as new pending events. */
  filter(keep: (offset: number) => boolean): PendingEvents {
    const out = new PendingEvents();
    for (let i = 0; i < this.offsets.length; i++) {
      if (keep(this.offsets[i])) out.push(this.offsets[i], this.out.buf.subarray(i === 0 ? ROOM : this.ends[i - 1], this.ends[i]));
    }
    return out;
  }

  /** The entries' bytes, back to back (a view: valid until the next push or truncate). */
  bytes(): Uint8Array {
    return this.out.length === 0 ? new Uint8Array(0) : this.out.buf.subarray(ROOM, this.out.length);
  }

  /**
   * `before`, the entries and `after` as one byte string, built in this buffer when `before` fits the room
   * in front (else copied). The result shares the buffer: the chain must take new pending events after this
   * (a failed append that truncates and pushes again has discarded the chunk).
   */
  seal(before: Uint8Array[], after: Uint8Array): Uint8Array {
    let head = 0;
    for (const b of before) head += b.length;
    if (head > ROOM || this.out.length === 0) return concat([...before, this.bytes(), after]);
    const out = this.out;
    const end = out.length;
    out.bytes(after, 0, after.length); // first: growing the buffer copies what is below its length only
    const buf = out.buf;
    let at = ROOM - head;
    for (const b of before) {
      buf.set(b, at);
      at += b.length;
    }
    const sealed = buf.subarray(ROOM - head, out.length);
    out.length = end;
    return sealed;
  }
}

/** An event already encoded, for ArchiveWriter.appendEncoded. */
export interface EncodedEvent {
  offset: number;
  at: number;
  /** The event's DAG-CBOR bytes. */
  bytes: Uint8Array;
  /** The learner id the writer's key path reads from the event (null: none). */
  learner: string | null;
}

/** A map of 4 entries and its first key, 'e'. */
const ENTRY_HEAD = Uint8Array.of(0xa4, 0x61, 0x65);

/** The CBOR head of an array of n items (major type 4). */
function arrayHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x80 + n);
  if (n < 0x100) return Uint8Array.of(0x98, n);
  if (n < 0x10000) return Uint8Array.of(0x99, n >> 8, n & 0xff);
  return Uint8Array.of(0x9a, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

const EVENTS_KEY = dagCbor.encode('events'); // 0x66 'events'

/** Map head byte for n < 24 entries (major type 5). */
const mapHead = (n: number) => 0xa0 + n;

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Bytes of `{type: 'loflow/chunk', stream, learner, prev, count, events}` (a plaintext chunk). Key order:
 * prev, type, count | events | stream, learner; each side encoded as a map of its own, its head dropped.
 */
export function chunkBytes(h: { stream: string; learner: string | null; prev: CID | null }, events: PendingEvents): Uint8Array {
  const before = dagCbor.encode({ prev: h.prev, type: 'loflow/chunk', count: events.length });
  const after = dagCbor.encode({ stream: h.stream, learner: h.learner });
  return events.seal([Uint8Array.of(mapHead(6)), before.subarray(1), EVENTS_KEY, arrayHead(events.length)], after.subarray(1));
}

/** Bytes of an encrypted chunk's plaintext `{learner, events}` (key order: events, learner). */
export function plaintextBytes(learner: string | null, events: PendingEvents): Uint8Array {
  const after = dagCbor.encode({ learner });
  return events.seal([Uint8Array.of(mapHead(2)), EVENTS_KEY, arrayHead(events.length)], after.subarray(1));
}
