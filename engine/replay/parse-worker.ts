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

/** Parse and check one block's lines. `sources`: the pipeline's compiled sources (the same checks as ingest). */
export function parseBlock(text: string, sources: Map<string, CompiledSource>, defaultStream: string): Omit<BlockResult, 'seq'> {
  const parts: string[] = [];
  const lineNo: number[] = [];
  const kinds: number[] = [];
  const errors: string[] = [];
  let line = 0;
  let start = 0;
  // A block ends at a line end (or the file's end): a final '\n' closes the last line, it opens no new one.
  const end = text.length > 0 && text.charCodeAt(text.length - 1) === 10 ? text.length - 1 : text.length;
  while (start <= end) {
    let nl = text.indexOf('\n', start);
    if (nl === -1 || nl > end) nl = end;
    const s = text.slice(start, nl);
    start = nl + 1;
    line++;
    // Blank (or whitespace-only) lines are skipped but counted, as readNdjson does.
    if (s.length === 0 || (s.charCodeAt(0) <= 32 && s.trim() === '')) continue;
    let value: unknown;
    try {
      value = JSON.parse(s);
    } catch (err) {
      lineNo.push(line);
      kinds.push(LineKind.NotJson);
      errors.push((err as Error).message);
      continue;
    }
    lineNo.push(line);
    parts.push(s);
    const u = unwrap(value, defaultStream);
    const source = sources.get(u.stream);
    // Against now: NDJSON events arrive now. The main thread ingests later, so its bound is never below this
    // one; an event refused here is checked again there, with the same result as the one-thread path.
    const reason = source ? (source.validate(u.event) ?? source.checkTime?.(u.event as LoEvent, Date.now()) ?? null) : 'no such source';
    kinds.push(reason === null ? LineKind.Valid : LineKind.Refused);
  }
  return { lines: line, json: `[${parts.join(',')}]`, lineNo: Int32Array.from(lineNo), kind: Uint8Array.from(kinds), errors };
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
    const bytes = Buffer.from(req.bytes, 0, req.length);
    const text = isAscii(bytes) ? bytes.toString('latin1') : utf8.decode(bytes);
    const r: BlockResult = { seq: req.seq, ...parseBlock(text, pipeline.sources, init.defaultStream) };
    port.postMessage(r, [r.lineNo.buffer as ArrayBuffer, r.kind.buffer as ArrayBuffer]);
  });
}

if (parentPort) void main();
