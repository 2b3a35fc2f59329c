// `loflow replay --threads N`: the main thread reads the file in blocks that end at a line end and hands them
// round-robin to N parse workers (parse-worker.ts), which parse and check each line; results come back in any
// order and are handed on strictly in file order (by block sequence number), in chunks of exactly `chunk`
// lines as readNdjson makes them, so the engine sees the same ingest calls as with one thread.
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { unwrap, type NdjsonLine } from '../ndjson.js';
import { LineKind, type BlockRequest, type BlockResult, type WorkerFailure, type WorkerInit } from './block-protocol.js';

/** A parsed line; `trusted`: its event passed the source's checks in a worker (ingest need not run them again). */
export interface ParsedLine extends NdjsonLine {
  /** The line's stream and event (unwrapped in the worker's way: the same `unwrap`). */
  stream?: string;
  /** An `archive learner` line's arrival time. */
  at?: number;
  trusted?: boolean;
}

export interface ParallelOptions {
  threads: number;
  pipelineFile: string;
  defaultStream: string;
  /** Lines per yielded chunk (readNdjson's `chunk`). */
  chunk?: number;
  /** Bytes read per block (a line longer than this makes its block longer). */
  blockBytes?: number;
}

const utf8 = new TextDecoder('utf-8');
const workerUrl = new URL('./parse-worker.js', import.meta.url);

/** Yield the file's lines, parsed and checked by worker threads, in file order. */
export async function* parallelNdjson(file: string, opts: ParallelOptions): AsyncGenerator<ParsedLine[]> {
  const { threads, chunk = 4096, blockBytes = 1 << 20 } = opts;
  const init: WorkerInit = { pipelineFile: opts.pipelineFile, defaultStream: opts.defaultStream };
  // Opened first: a missing file must not leave workers behind (they would keep the process alive).
  const fd = openSync(file, 'r');
  const workers = Array.from({ length: threads }, () => new Worker(workerUrl, { workerData: init }));
  const done = new Map<number, BlockResult>();
  let failure: Error | null = null;
  let closing = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  for (const w of workers) {
    w.on('message', (m: BlockResult | WorkerFailure) => {
      if (m.seq === -1) failure ??= new Error((m as WorkerFailure).error);
      else done.set(m.seq, m as BlockResult);
      notify();
    });
    w.on('error', (err) => {
      failure ??= err;
      notify();
    });
    // A worker gone without an error (killed, out of memory) must not leave the replay waiting for ever.
    w.on('exit', (code) => {
      if (!closing) failure ??= new Error(`a parse worker exited (code ${code})`);
      notify();
    });
  }
  try {
    let sent = 0;
    let next = 0; // the next block to hand on
    let eof = false;
    let carry: Uint8Array | null = null; // the partial line at the end of the last block read
    let line = 0;
    let batch: ParsedLine[] = [];
    // Blocks in flight: several queued per worker, so neither side waits on the other's scheduling (on a loaded
    // machine a thread that blocks may wait long to run again).
    const inFlight = threads * 4;
    // Read synchronously: the main thread has nothing else to do meanwhile but the engine, and an async read
    // waits for a libuv pool thread, which on a loaded machine left the main thread idle a third of the time.
    const readBlock = (): BlockRequest | null => {
      for (;;) {
        if (eof) {
          if (!carry || carry.length === 0) return null;
          // The file's last line, without a line end.
          const last = new Uint8Array(carry.length + 2);
          last.set(carry, 1);
          carry = null;
          return { seq: sent++, bytes: last.buffer, length: last.length - 2 };
        }
        const have = carry?.length ?? 0;
        // A fresh ArrayBuffer per block (not Buffer's shared pool): it is transferred to the worker. One spare
        // byte before and after the lines (see BlockRequest).
        const buf = new Uint8Array(1 + have + blockBytes + 1);
        if (carry) buf.set(carry, 1);
        const bytesRead = readSync(fd, buf, 1 + have, blockBytes, null);
        if (bytesRead === 0) eof = true;
        const filled = have + bytesRead;
        const nl = filled === 0 ? -1 : buf.lastIndexOf(10, filled); // the last '\n' among buf[1 .. 1 + filled)
        if (nl < 1) {
          // No line end yet: all of it is one partial line (or the file's last line, at eof).
          carry = buf.subarray(1, 1 + filled);
          continue;
        }
        carry = nl < filled ? buf.slice(nl + 1, 1 + filled) : null;
        return { seq: sent++, bytes: buf.buffer, length: nl };
      }
    };
    const send = (): boolean => {
      const req = readBlock();
      if (!req) return false;
      workers[req.seq % threads].postMessage(req, [req.bytes]);
      return true;
    };
    let more = true;
    while (more && sent < inFlight) more = send();
    while (next < sent) {
      while (!done.has(next) && !failure) await new Promise<void>((r) => (wake = r));
      if (failure) throw failure;
      const r = done.get(next)!;
      done.delete(next++);
      if (more) more = send();
      const bytes = Buffer.from(r.bytes, 0, r.length + 2);
      const values = JSON.parse(r.ascii ? bytes.toString('latin1') : utf8.decode(bytes)) as unknown[];
      let v = 0;
      let e = 0;
      for (let i = 0; i < r.kind.length; i++) {
        const n = line + r.lineNo[i];
        if (r.kind[i] === LineKind.NotJson) {
          batch.push({ line: n, error: `line ${n}: not JSON (${r.errors[e++]})` });
          continue;
        }
        const u = unwrap(values[v++], opts.defaultStream);
        batch.push({ line: n, value: u.event, stream: u.stream, ...(u.at !== undefined ? { at: u.at } : {}), trusted: r.kind[i] === LineKind.Valid });
      }
      line += r.lines;
      if (batch.length >= chunk) {
        for (let i = 0; i + chunk <= batch.length; i += chunk) yield batch.slice(i, i + chunk);
        batch = batch.slice(batch.length - (batch.length % chunk));
      }
    }
    if (batch.length) yield batch;
  } finally {
    closing = true;
    closeSync(fd);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
