// An export's events rewritten on their bytes a batch at a time: on this thread, or in rewrite threads
// (rewrite-thread.ts) while this one reads the source and writes the CAR. A batch is the events' DAG-CBOR
// bytes back to back; the result is the rewritten bytes back to back, each one's learner (the writer's key
// path, read from the result), where learner ids remain (the leak search) and which events the byte path
// does not reproduce (the caller takes the object path for those).
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { NotPlain, Out } from './cbor-bytes.js';
import { readLearner, type BytesDeidentifier } from './deidentify-bytes.js';
import { byteRewriters, type ByteRewriters } from './byte-rewriters.js';
import type { Deidentify } from './pseudonymize.js';
import { startThread } from './start-thread.js';

export interface Batch {
  id: number;
  /** A derived stream's events (their `key` is pseudonymized too). */
  derived: boolean;
  bytes: Uint8Array;
  /** Where each event's bytes end (an event of length 0 is one the caller handles itself). */
  ends: Uint32Array;
}

export interface Rewritten {
  id: number;
  bytes: Uint8Array;
  ends: Uint32Array;
  learners: Array<string | null>;
  /** Paths (IdScanner's spelling) where a learner id remains, once per event and place. */
  leaks: string[];
  /** Events the byte path does not reproduce (their bytes here are empty), and their input bytes. */
  notPlain: number[];
  notPlainBytes: Uint8Array[];
}

/** What a rewrite thread builds its rewriters from (the key as bytes: a Buffer arrives as a Uint8Array). */
export interface RewriteInit {
  text: string;
  deidentify: { idFields: string[]; dropFields: string[]; key: Uint8Array | null } | null;
  learners: boolean;
  /** The learner ids searched for (null: no search). */
  ids: string[] | null;
}

export function rewritersOf(init: RewriteInit): ByteRewriters | null {
  const d: Deidentify | undefined = init.deidentify ? { ...init.deidentify, key: init.deidentify.key && Buffer.from(init.deidentify.key) } : undefined;
  return byteRewriters(init.text, d, init.learners, init.ids);
}

/** Rewrites every event of the batch (a zero-length one is skipped). */
export function rewriteBatch(rws: ByteRewriters, b: Batch, scan: boolean): Rewritten {
  const rw = (b.derived ? rws.derived : rws.source) as BytesDeidentifier;
  // Pseudonyms (64 hex digits) are longer than most ids: the demo's events grow by about half.
  const out = new Out(2 * b.bytes.length + 64);
  const ends = new Uint32Array(b.ends.length);
  const learners: Array<string | null> = new Array(b.ends.length).fill(null);
  const leaks: string[] = [];
  const notPlain: number[] = [];
  const notPlainBytes: Uint8Array[] = [];
  const eventLeaks: string[] = [];
  const found = scan ? (path: string) => eventLeaks.push(path) : null;
  let from = 0;
  for (let i = 0; i < b.ends.length; i++) {
    const start = out.length;
    if (b.ends[i] > from) {
      eventLeaks.length = 0;
      try {
        rw.rewrite(b.bytes, from, out, found);
        learners[i] = readLearner(out.buf, start, rws.keySegs);
        for (const p of eventLeaks) leaks.push(p);
      } catch (err) {
        if (!(err instanceof NotPlain)) throw err;
        out.length = start;
        notPlain.push(i);
        notPlainBytes.push(b.bytes.slice(from, b.ends[i]));
      }
    }
    ends[i] = out.length;
    from = b.ends[i];
  }
  return { id: b.id, bytes: out.buf.subarray(0, out.length), ends, learners, leaks, notPlain, notPlainBytes };
}

export interface BatchRewriter {
  rewrite(b: Batch): Promise<Rewritten>;
  /** In threads of its own (else on this thread: rewrite has done its work when it returns). */
  readonly threaded: boolean;
  /** Rewrites batches still waiting for a thread here, until none is left (this thread has nothing else to do). */
  help(): Promise<void>;
  close(): Promise<void>;
}

/** Rewrites on this thread. */
export function localRewriter(rws: ByteRewriters, scan: boolean): BatchRewriter {
  return { threaded: false, rewrite: async (b) => rewriteBatch(rws, b, scan), help: async () => {}, close: async () => {} };
}

/**
 * Rewrites in `threads` threads (default: one per core but this one's, at most 4). A batch waits here until a
 * thread is free, so `help` can rewrite the waiting ones on this thread too (with `rws`, the same rewriters).
 */
export function threadRewriter(init: RewriteInit, rws: ByteRewriters, threads = Math.max(1, Math.min(4, availableParallelism() - 1))): BatchRewriter {
  type Waiting = { b: Batch; resolve(r: Rewritten): void; reject(e: Error): void };
  const workers: Worker[] = Array.from({ length: threads }, () => startThread('rewrite-thread', init));
  const idle = [...workers];
  const queue: Waiting[] = [];
  const busy = new Map<Worker, Waiting>();
  let failed: Error | null = null;
  const fail = (err: Error) => {
    failed ??= err;
    for (const w of [...busy.values(), ...queue.splice(0)]) w.reject(failed);
    busy.clear();
  };
  const dispatch = () => {
    while (idle.length && queue.length) {
      const w = idle.pop()!;
      const job = queue.shift()!;
      busy.set(w, job);
      w.postMessage(job.b, [job.b.bytes.buffer as ArrayBuffer, job.b.ends.buffer as ArrayBuffer]);
    }
  };
  for (const w of workers) {
    w.on('message', (m: Rewritten | { id: number; error: string }) => {
      const job = busy.get(w);
      busy.delete(w);
      idle.push(w);
      if ('error' in m) job?.reject(new Error(`an export's rewrite thread failed: ${m.error}`));
      else job?.resolve(m);
      dispatch();
    });
    w.on('error', (err) => fail(err));
    w.on('exit', (code) => fail(new Error(`an export's rewrite thread exited (code ${code})`)));
  }
  const scan = init.ids !== null;
  return {
    threaded: true,
    rewrite(b) {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        queue.push({ b, resolve, reject });
        dispatch();
      });
    },
    async help() {
      while (queue.length && !failed) {
        const job = queue.shift()!;
        try {
          job.resolve(rewriteBatch(rws, job.b, scan));
        } catch (err) {
          job.reject(err as Error);
        }
        await new Promise((r) => setImmediate(r)); // the threads' replies are taken between batches
      }
    },
    async close() {
      failed ??= new Error('closed');
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** Events packed into a batch: their bytes copied back to back (the batch's buffer goes to a thread). */
export class BatchPacker<T> {
  private out: Out;

  /** `size`: bytes to start with (the last batch's: growing a buffer of megabytes by doubling copies it over and over). */
  constructor(private readonly size = 1 << 20) {
    this.out = new Out(size);
  }

  private ends: number[] = [];
  items: T[] = [];

  get length(): number {
    return this.items.length;
  }

  /** Adds an event's bytes b[from, to) (from === to: one the caller handles itself). */
  add(item: T, b: Uint8Array, from: number, to: number): void {
    if (to > from) this.out.bytes(b, from, to);
    this.ends.push(this.out.length);
    this.items.push(item);
  }

  /** The batch so far, and a new empty one begun. */
  take(id: number, derived: boolean): { batch: Batch; items: T[] } {
    const batch: Batch = { id, derived, bytes: this.out.buf.subarray(0, this.out.length), ends: Uint32Array.from(this.ends) };
    const items = this.items;
    this.out = new Out(Math.max(this.size, this.out.length + (this.out.length >> 4)));
    this.ends = [];
    this.items = [];
    return { batch, items };
  }
}
