// The archive writer's thread: an ArchiveWriter driven by messages from archive/worker-sink.ts. Ops are
// handed to the writer in arrival order (it runs them one after another), and each op's result is sent back
// when it settles, with what is durable after a commit.
import { parentPort, workerData } from 'node:worker_threads';
import type { LoggedEvent } from '../engine/types.js';
import type { Durable, Op, OpsMessage, Result, ThreadInit, ThreadMessage } from './thread-protocol.js';
import { ArchiveWriter } from './writer.js';
import { openWriterCrypto } from './open-crypto.js';

const port = parentPort!;
const init = workerData as ThreadInit;
const post = (m: ThreadMessage) => port.postMessage(m);

function durable(writer: ArchiveWriter): Durable {
  return { raw: writer.durableOffset(), through: writer.durableThroughs() };
}

// Results of one tick go back in one message.
let outbox: Result[] = [];
function reply(r: Result): void {
  if (outbox.length === 0) queueMicrotask(() => post({ type: 'results', results: outbox.splice(0) }));
  outbox.push(r);
}

function eventsOf(op: Extract<Op, { op: 'append' }>, stream: string): LoggedEvent[] {
  if ('triples' in op) return op.triples.map(([offset, at, event]) => ({ offset, at, stream, event: event as LoggedEvent['event'] }));
  const { ends, meta } = op;
  const bytes = Buffer.from(op.bytes.buffer, op.bytes.byteOffset, op.bytes.length);
  const events: LoggedEvent[] = new Array(ends.length);
  let from = 0;
  for (let i = 0; i < ends.length; i++) {
    // One event's text at a time: small strings, cheap to allocate (see thread-protocol.ts).
    events[i] = { offset: meta[2 * i], at: meta[2 * i + 1], stream, event: JSON.parse(bytes.toString('utf8', from, ends[i])) as LoggedEvent['event'] };
    from = ends[i];
  }
  return events;
}

/** Runs one op on the writer; settles once its result has been sent. */
function run(writer: ArchiveWriter, op: Op): Promise<void> {
  const fail = (err: unknown) => reply({ id: op.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  switch (op.op) {
    case 'append': {
      let events: LoggedEvent[];
      try {
        events = eventsOf(op, op.stream);
      } catch (err) {
        fail(err);
        return Promise.resolve();
      }
      return writer.append(op.stream, events).then(() => reply({ id: op.id, ok: true }), fail);
    }
    case 'commit':
      return writer.commit(op.options).then((cid) => reply({ id: op.id, ok: true, cid, durable: durable(writer) }), fail);
    case 'erase':
      return writer.erase(op.req).then((erased) => reply({ id: op.id, ok: true, erased }), fail);
    case 'close':
      // The writer waits for its queued ops, then releases the folder lock; the sink then ends this thread.
      return writer.close().then(() => reply({ id: op.id, ok: true }), fail);
  }
}

/**
 * Ops received and not yet handed to the writer. The writer takes them one after another; an append's events
 * are parsed only when it is nearly the writer's turn (two ops at a time with the writer, so the next one's
 * parsing overlaps the last one's disk writes). Parsed on arrival, a backlog of appends was up to
 * hundreds of thousands of objects waiting, which the garbage collector copied again and again (a quarter of
 * this thread's time).
 */
const waiting: Array<Op | undefined> = [];
let next = 0;
let withWriter = 0;
const MAX_WITH_WRITER = 2;

function pump(writer: ArchiveWriter): void {
  while (withWriter < MAX_WITH_WRITER && next < waiting.length) {
    const op = waiting[next];
    waiting[next++] = undefined; // its buffers go with it once run
    if (next === waiting.length) {
      waiting.length = 0;
      next = 0;
    } else if (next >= 1024 && 2 * next >= waiting.length) {
      // A backlog that never empties: the taken slots are dropped now and then, not kept growing.
      waiting.splice(0, next);
      next = 0;
    }
    withWriter++;
    void run(writer, op!).finally(() => {
      withWriter--;
      pump(writer);
    });
  }
}

async function main(): Promise<void> {
  let writer: ArchiveWriter | undefined;
  try {
    const crypto = init.crypto ? await openWriterCrypto(init.dir, init.name, init.crypto) : undefined;
    writer = await ArchiveWriter.open(init.dir, { name: init.name, text: init.text, sources: init.sources }, init.chunkEvents, { crypto });
  } catch (err) {
    await writer?.close();
    post({ type: 'open-failed', error: err instanceof Error ? err.message : String(err) });
    return;
  }
  const w = writer;
  port.on('message', (m: OpsMessage) => {
    for (const op of m.ops) waiting.push(op);
    pump(w);
  });
  post({ type: 'ready', durable: durable(w) });
}

void main();
