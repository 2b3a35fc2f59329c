// An export's rewrite thread (rewrite-batch.ts): batches of events in, rewritten on their bytes, out.
import { parentPort, workerData } from 'node:worker_threads';
import { rewriteBatch, rewritersOf, type Batch, type RewriteInit } from './rewrite-batch.js';

const port = parentPort!;
const init = workerData as RewriteInit;
const rws = rewritersOf(init);

port.on('message', (b: Batch) => {
  try {
    if (!rws) throw new Error('the byte path cannot rewrite this selection');
    const r = rewriteBatch(rws, b, init.ids !== null);
    port.postMessage(r, [r.bytes.buffer as ArrayBuffer, r.ends.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ id: b.id, error: err instanceof Error ? err.message : String(err) });
  }
});
