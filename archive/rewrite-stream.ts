// One stream of an export rewritten on its bytes (deidentify-bytes.ts): its chunks are read (forEachRawChunk)
// and their events packed into batches for the rewriter (on this thread, or in rewrite threads while this one
// reads on: rewrite-batch.ts); once the source is read this thread rewrites what still waits, and the writer
// takes the stream in stream order. An event the byte path does not reproduce is decoded (`decoded`).
import { NotPlain } from './cbor-bytes.js';
import type { EncodedEvent } from './chunk-bytes.js';
import type { ByteRewriters } from './byte-rewriters.js';
import { readLearner } from './deidentify-bytes.js';
import type { CommitBlock } from './format.js';
import { forEachRawChunk } from './raw-entries.js';
import type { BlockSource } from './read.js';
import { BatchPacker, type BatchRewriter, type Rewritten } from './rewrite-batch.js';
import type { ArchiveWriter } from './writer.js';

export interface StreamRewrite {
  src: BlockSource;
  commit: CommitBlock;
  stream: string;
  /** A derived stream (its `key` is pseudonymized too). */
  derived: boolean;
  /** Events that arrived in [since, until). */
  since: number;
  until: number;
  bytes: ByteRewriters;
  rewriter: BatchRewriter;
  batchSize: number;
  /** A research export: only events whose learner `consented` says yes (it records who was included). */
  only: ReadonlySet<string> | undefined;
  consented(who: string | null): boolean;
  /** The object path for one event's bytes (null: not a consented learner's); `note` counts a leak's path. */
  decoded(b: Uint8Array, o: number, at: number, note: (path: string) => void): EncodedEvent | null;
  writer: ArchiveWriter;
}

/** A kept event: decoded already (`done`), or the `k`th of a rewritten batch `r`. */
interface Item {
  i: number;
  o: number;
  t: number;
  done: EncodedEvent | null;
  r: Rewritten | null;
  k: number;
}

/**
 * Rewrites and writes the stream; its events (of them, `onBytes` on their bytes) and the paths where learner
 * ids remain, with their counts. Null when the stream is not stored as the byte path reads it (nothing was
 * written: the caller takes the object path).
 */
export async function rewriteStreamOnBytes(x: StreamRewrite): Promise<{ events: number; onBytes: number; leaks: Map<string, number> } | null> {
  const { stream, bytes, rewriter: rw } = x;
  // Kept aside until the stream is done: if it cannot be read on its bytes after all, the object path reads it
  // again and finds them again.
  const leaks = new Map<string, number>();
  const note = (path: string) => leaks.set(`${stream}: ${path}`, (leaks.get(`${stream}: ${path}`) ?? 0) + 1);
  const items: Item[] = [];
  const rewritten: Promise<void>[] = [];
  const pack = new BatchPacker<Item>();
  let id = 0;
  const send = () => {
    if (!pack.length) return;
    const { batch, items: sent } = pack.take(id++, x.derived);
    const done = rw.rewrite(batch).then((r) => {
      for (let n = 0; n < r.notPlain.length; n++) {
        const it = sent[r.notPlain[n]];
        it.done = x.decoded(r.notPlainBytes[n], it.o, it.t, note);
      }
      for (let k = 0; k < sent.length; k++) if (!sent[k].done && r.ends[k] > (k === 0 ? 0 : r.ends[k - 1])) Object.assign(sent[k], { r, k });
      for (const p of r.leaks) note(p);
    });
    // Awaited (and its failure thrown) once the source is read; handled now, so a thread that fails while this
    // one still reads is not an unhandled rejection, which would end the process.
    done.catch(() => {});
    rewritten.push(done);
  };
  const plain = await forEachRawChunk(x.src, x.commit, stream, (entries) => {
    for (const e of entries) {
      if (e.t < x.since || e.t >= x.until) continue;
      const it: Item = { i: e.i, o: e.o, t: e.t, done: null, r: null, k: 0 };
      if (x.only) {
        let who: string | null = null;
        try {
          for (const segs of bytes.idSegs) if ((who = readLearner(e.b, e.from, segs)) !== null) break;
        } catch (err) {
          if (!(err instanceof NotPlain)) throw err;
          it.done = x.decoded(e.b.subarray(e.from, e.to), e.o, e.t, note); // its learner read from the decoded event
          if (it.done) items.push(it);
          continue;
        }
        if (!x.consented(who)) continue;
      }
      items.push(it);
      pack.add(it, e.b, e.from, e.to);
      if (pack.length >= x.batchSize) send();
    }
  });
  send();
  await rw.help(); // the source is read: this thread rewrites what still waits for a thread
  const failed = (await Promise.allSettled(rewritten)).find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  if (!plain) return null;
  items.sort((a, b) => a.i - b.i);
  let events = 0;
  let onBytes = 0;
  let batch: EncodedEvent[] = [];
  for (let n = 0; n < items.length; n++) {
    const it = items[n];
    (items as unknown[])[n] = undefined; // a batch's bytes go once its last event is written
    if (it.r) {
      const { r, k } = it;
      batch.push({ offset: it.o, at: it.t, bytes: r.bytes.subarray(k === 0 ? 0 : r.ends[k - 1], r.ends[k]), learner: r.learners[k] });
      onBytes++;
    } else if (it.done) batch.push(it.done);
    // else: decoded, and not a consented learner's
    if (batch.length >= 4096) {
      await x.writer.appendEncoded(stream, batch);
      events += batch.length;
      batch = [];
    }
  }
  await x.writer.appendEncoded(stream, batch);
  events += batch.length;
  return { events, onBytes, leaks };
}
