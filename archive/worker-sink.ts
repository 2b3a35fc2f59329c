// An ArchiveSink whose ArchiveWriter runs in a worker thread (archive/writer-thread.ts), so DAG-CBOR
// encoding, hashing and fsyncs stay off the thread that parses ingest and pushes dashboards.
// Ops go to the thread in call order and the writer runs them in that order. durableOffset() and
// durableThrough() answer from what the thread reported after its last durable commit, never more: the engine
// truncates its input log and drops its outbox by them. A crashed thread fails every pending and later call.
import { mkdirSync } from 'node:fs';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { startThread } from './start-thread.js';
import type { ArchiveEraseRequest, ArchiveEraseResult, ArchiveSink, LoEvent, LoggedEvent } from '../engine/types.js';
import { acquireLock } from './lock.js';
import { takeRawJson, type RawJsonConsumer } from '../engine/log/raw-json.js';
import type { Durable, Op, Result, ThreadCrypto, ThreadInit, ThreadMessage, Triple } from './thread-protocol.js';
import type { CommitOptions } from './writer.js';

type OpBody = Op extends infer O ? (O extends Op ? Omit<O, 'id'> : never) : never;

interface Pending {
  resolve(value: any): void;
  reject(err: Error): void;
}

/**
 * Events as their JSON texts' UTF-8 bytes, one after another, with where each ends and each one's offset and
 * time, in buffers of their own for the thread to take (thread-protocol.ts); a cloned array when JSON
 * cannot carry them. An event that came with its own text (log/raw-json.ts: an HTTP body's) goes as that
 * text: the thread parses it to the same value, and this thread does not stringify it again.
 */
export function appendBody(stream: string, events: LoggedEvent[]): OpBody {
  const n = events.length;
  const texts: string[] = new Array(n);
  let chars = 0;
  try {
    for (let i = 0; i < n; i++) {
      const e = events[i].event as unknown;
      // JSON.stringify gives undefined for what an array would hold as null (undefined, a function).
      const t = (e !== null && typeof e === 'object' ? takeRawJson(e) : undefined) ?? JSON.stringify(e) ?? 'null';
      texts[i] = t;
      chars += t.length;
    }
  } catch {
    return { op: 'append', stream, triples: events.map((x): Triple => [x.offset, x.at, x.event]) };
  }
  // Room for ASCII texts; a text that may not fit (UTF-8 takes up to 3 bytes a char) grows it.
  let buf: Buffer = Buffer.allocUnsafeSlow(chars + 4096);
  const ends = new Uint32Array(n);
  const meta = new Float64Array(2 * n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const t = texts[i];
    if (buf.length - at < 3 * t.length) buf = grown(buf, at, 3 * t.length);
    at += buf.write(t, at, 'utf8');
    ends[i] = at;
    meta[2 * i] = events[i].offset;
    meta[2 * i + 1] = events[i].at;
  }
  return { op: 'append', stream, bytes: new Uint8Array(buf.buffer, 0, at), ends, meta };
}

/** A copy of buf[0, used) with room for `more` bytes after it. */
function grown(buf: Buffer, used: number, more: number): Buffer {
  const next = Buffer.allocUnsafeSlow(Math.max(2 * buf.length, used + more));
  buf.copy(next, 0, 0, used);
  return next;
}

/** The appends' JSON buffers, moved to the thread rather than copied (this side never reads them again). */
function transfers(ops: Op[]): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const op of ops) if ('bytes' in op) list.push(op.bytes.buffer as ArrayBuffer, op.ends.buffer as ArrayBuffer, op.meta.buffer as ArrayBuffer);
  return list;
}

export interface WorkerSinkOptions {
  /** Events per chunk (ArchiveWriter's default when absent). */
  chunkEvents?: number;
  /** Bounds on the thread's heap: past them the thread dies and the sink fails (see crash()). */
  resourceLimits?: ResourceLimits;
  /** Encrypt (format 3): the thread opens this key provider and data key store. */
  crypto?: ThreadCrypto;
}

export class WorkerArchiveSink implements ArchiveSink, RawJsonConsumer {
  /** Events' HTTP texts go to the thread as they are (appendBody). */
  readonly reusesRawJson = true;
  private readonly pending = new Map<number, Pending>();
  private queue: Op[] = [];
  private nextId = 1;
  private durable: Durable;
  private failure: Error | undefined;
  /** Why the sink takes no more ops (see flush); the thread lives on until close. */
  private stopped: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    ready: Durable,
    private readonly releaseLock: () => void,
  ) {
    this.durable = ready;
    worker.on('message', (m: ThreadMessage) => {
      if (m.type === 'results') this.settle(m.results);
    });
    worker.on('error', (err) => this.crash(`the archive writer thread crashed: ${err.message}`));
    worker.on('exit', (code) => this.crash(`the archive writer thread exited (code ${code})`));
    // Idle, the thread keeps no process alive (as the in-thread writer did not); with work pending it does.
    worker.unref();
  }

  /** Open (or create) the archive in `dir` in a new writer thread. Takes the folder's writer lock. */
  static async open(dir: string, pipeline: { name: string; text: string; sources?: Iterable<string> }, options: WorkerSinkOptions = {}): Promise<WorkerArchiveSink> {
    mkdirSync(dir, { recursive: true });
    // Held by this thread too: gc and other writers of this process see the archive in use (lock.ts counts
    // holders per thread).
    const releaseLock = acquireLock(dir);
    const init: ThreadInit = { dir, name: pipeline.name, text: pipeline.text, sources: [...(pipeline.sources ?? [])], chunkEvents: options.chunkEvents, crypto: options.crypto };
    let worker: Worker | undefined;
    try {
      worker = startThread('writer-thread', init, options.resourceLimits); // archive/writer-thread.ts
      const w = worker;
      const listeners: Array<[string, (...args: any[]) => void]> = [];
      const ready = await new Promise<Durable>((resolve, reject) => {
        listeners.push(
          ['message', (m: ThreadMessage) => (m.type === 'ready' ? resolve(m.durable) : m.type === 'open-failed' ? reject(new Error(m.error)) : undefined)],
          ['error', reject],
          ['exit', (code: number) => reject(new Error(`the archive writer thread exited (code ${code}) while opening ${dir}`))],
        );
        for (const [event, fn] of listeners) w.on(event, fn);
      }).finally(() => {
        for (const [event, fn] of listeners) w.off(event, fn);
      });
      return new WorkerArchiveSink(w, ready, releaseLock);
    } catch (err) {
      await worker?.terminate();
      releaseLock();
      throw err;
    }
  }

  durableOffset(): number {
    return this.durable.raw;
  }

  durableThrough(stream: string): number {
    return this.durable.through[stream] ?? -1;
  }

  append(stream: string, events: LoggedEvent[] | LoEvent[]): Promise<void> {
    return this.send(appendBody(stream, events as LoggedEvent[])).then(() => undefined);
  }

  /** Resolves with the commit's CID once it is durable (HEAD switched). */
  commit(options?: CommitOptions): Promise<string> {
    return this.send({ op: 'commit', options }) as Promise<string>;
  }

  /** Crypto-shred a learner (ArchiveWriter.erase, in the thread, after the ops sent before). */
  erase(req: ArchiveEraseRequest): Promise<ArchiveEraseResult> {
    return this.send({ op: 'erase', req }) as Promise<any>;
  }

  /**
   * Waits for the ops sent before, releases the folder lock and ends the thread. Commits nothing. After a
   * crash it only releases the lock (the calls that failed said why).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (!this.failure) await this.send({ op: 'close' }, true);
      } finally {
        // Set first: the thread's exit below is then no crash.
        this.failure ??= new Error('the archive sink is closed');
        await this.worker.terminate();
        this.releaseLock();
      }
    })();
    return this.closing;
  }

  private send(body: OpBody, closing = false): Promise<string | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.stopped && !closing) return Promise.reject(this.stopped);
    if (this.closing && !closing) return Promise.reject(new Error('the archive sink is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      // The ops of one tick (the engine appends a batch's streams one after another) go in one message.
      if (this.queue.length === 0) queueMicrotask(() => this.flush());
      this.queue.push({ id, ...body } as Op);
    });
  }

  private flush(): void {
    const ops = this.queue.splice(0);
    if (this.failure) return;
    try {
      this.worker.postMessage({ ops }, transfers(ops));
    } catch {
      // An append the fallback could not clone either (e.g. a function in an event, or one nested too deeply
      // for the clone's recursion). Ops before it went to the thread; that one and every later op fail, and
      // the sink stops: a later append and commit would record a position past the events the thread never
      // got, the engine would truncate its log past them, and no restart could re-feed them (the writer
      // itself stops the same way after a failed append).
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        try {
          this.worker.postMessage({ ops: [op] }, transfers([op]));
        } catch (err) {
          const error = `archive append to '${'stream' in op ? op.stream : '?'}': ${(err as Error).message}`;
          this.stopped = new Error(`the archive sink stopped after an append it could not send to its thread (${error}); it takes nothing more: reopen it to continue from its last commit`);
          this.settle([{ id: op.id, ok: false, error }, ...ops.slice(i + 1).map((o) => ({ id: o.id, ok: false as const, error: this.stopped!.message }))]);
          return;
        }
      }
    }
  }

  private settle(results: Result[]): void {
    for (const r of results) {
      const p = this.pending.get(r.id);
      if (!p) continue;
      this.pending.delete(r.id);
      if (r.ok) {
        if (r.durable) this.durable = r.durable;
        p.resolve(r.erased ?? r.cid);
      } else p.reject(new Error(r.error));
    }
    if (this.pending.size === 0) this.worker.unref();
  }

  private crash(message: string): void {
    if (this.failure) return;
    this.failure = new Error(message);
    this.queue = [];
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.worker.unref();
  }
}
