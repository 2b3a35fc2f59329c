// A parse worker of `loflow replay --threads N`: splits a block of NDJSON into lines, parses each, and runs the
// source's checks (bounds, schema, event time) that ingest would run, so the main thread is left with the
// engine. It compiles the pipeline itself: validators are functions and cannot be sent to a thread.
import { isAscii } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { compilePipelineFile } from '../compiler.js';
import { unwrap } from '../ndjson.js';
import type { CompiledSource, LoEvent } from '../types.js';
import { LineKind, type BlockRequest, type BlockResult, type WorkerFailure, type WorkerInit } from './block-protocol.js';

const utf8 = new TextDecoder('utf-8');
const COMMA = 44;
const CLOSE = 93;
const SPACE = 32;

/** Parse and check the lines at buf[1 .. 1 + length), and rewrite buf into one JSON array text (see BlockResult). */
export function parseBlock(buf: Buffer, length: number, sources: Map<string, CompiledSource>, defaultStream: string): Omit<BlockResult, 'seq'> {
  const end = 1 + length;
  const ascii = isAscii(buf.subarray(1, end));
  const lineNo: number[] = [];
  const kinds: number[] = [];
  const errors: string[] = [];
  let line = 0;
  let lastJson = -1; // where the last JSON line ends (its '\n', or the spare byte)
  buf[0] = 91; // '['
  for (let start = 1; start < end; ) {
    let nl = buf.indexOf(10, start);
    if (nl === -1 || nl >= end) nl = end; // the file's last line, without '\n': it ends at the spare byte
    const s = ascii ? buf.toString('latin1', start, nl) : utf8.decode(buf.subarray(start, nl));
    line++;
    let json = false;
    // Blank (or whitespace-only) lines are skipped but counted, as readNdjson does.
    if (!(s.length === 0 || (s.charCodeAt(0) <= 32 && s.trim() === ''))) {
      let value: unknown;
      lineNo.push(line);
      try {
        value = JSON.parse(s);
        json = true;
      } catch (err) {
        kinds.push(LineKind.NotJson);
        errors.push((err as Error).message);
      }
      if (json) {
        const u = unwrap(value, defaultStream);
        const source = sources.get(u.stream);
        // Against now: NDJSON events arrive now. The main thread ingests later, so its bound is never below
        // this one; an event refused here is checked again there, with the one-thread path's result.
        const reason = source ? (source.validate(u.event) ?? source.checkTime?.(u.event as LoEvent, Date.now()) ?? null) : 'no such source';
        kinds.push(reason === null ? LineKind.Valid : LineKind.Refused);
      }
    }
    if (json) {
      buf[nl] = COMMA;
      lastJson = nl;
    } else {
      buf.fill(SPACE, start, nl + 1);
    }
    start = nl + 1;
  }
  if (lastJson >= 0) {
    buf[lastJson] = CLOSE;
    if (lastJson < end) buf[end] = SPACE; // the spare byte, when no line ended there
  } else {
    buf[end] = CLOSE; // no JSON line: '[', spaces, ']'
  }
  return { lines: line, bytes: buf.buffer as ArrayBuffer, length, ascii, lineNo: Int32Array.from(lineNo), kind: Uint8Array.from(kinds), errors };
}

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as WorkerInit;
  const { pipeline, errors } = await compilePipelineFile(init.pipelineFile);
  if (!pipeline || errors.length) {
    port.postMessage({ seq: -1, error: `the pipeline did not compile in a parse worker: ${errors[0]?.message ?? 'unknown error'}` } satisfies WorkerFailure);
    return;
  }
  port.on('message', (req: BlockRequest) => {
    const r: BlockResult = { seq: req.seq, ...parseBlock(Buffer.from(req.bytes, 0, req.length + 2), req.length, pipeline.sources, init.defaultStream) };
    port.postMessage(r, [r.bytes, r.lineNo.buffer as ArrayBuffer, r.kind.buffer as ArrayBuffer]);
  });
}

if (parentPort) void main();
