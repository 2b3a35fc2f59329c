// A focused micro-benchmark of three per-event costs on the ingest and archive paths, each beside the code
// it replaced (kept here as the baseline): parsing a 100-event HTTP body, turning it into file-log lines,
// and DAG-CBOR encoding an archive chunk. In-process and single-threaded, so it is steadier than the HTTP
// workloads on a shared machine. Run: node dist/bench/hot-paths.js
import * as dagCbor from '@ipld/dag-cbor';
import { encodeBlock, normalize } from '../archive/blocks.js';
import { encodeJson } from '../archive/json-cbor.js';
import { Classroom } from '../engine/classroom.js';
import { linesOf } from '../engine/log/segment-lines.js';
import { takeRawJson } from '../engine/log/raw-json.js';
import { parseBatch } from '../engine/server/ingest-http.js';
import type { LoEvent } from '../engine/types.js';

const BATCH = 100;
const events = [...new Classroom({ students: 200, seed: BATCH }).events(BATCH)].map((e) => e.event);
// 64 bodies as bench/workloads.ts's http-ingest sends them.
const bodies = Array.from({ length: 64 }, (_, v) => Buffer.from(JSON.stringify(events.map((e) => (typeof e.doc_id === 'string' ? { ...e, doc_id: `${e.doc_id}-v${v}` } : e)))));

/** Mean CPU ns per event of `fn` (which handles one batch of BATCH events) over about `ms` ms of CPU time:
 * CPU time, not wall time, so other work on a shared machine counts less (it still shares caches). */
async function nsPerEvent(fn: (i: number) => unknown, ms = 1500): Promise<number> {
  for (let i = 0; i < 500; i++) fn(i); // warm up the JIT
  let n = 0;
  const c0 = process.cpuUsage();
  const cpuMs = () => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  while (cpuMs() < ms) for (let k = 0; k < 50; k++) fn(n++);
  return (cpuMs() * 1e6) / (n * BATCH);
}

const entries = (i: number, keepRaw: boolean) => {
  const { events: evs } = parseBatch(bodies[i & 63].toString('utf8'), keepRaw ? 1 : 0);
  return evs.map((e) => ({ stream: 'extension', event: e as LoEvent, at: 1764000000000 + i }));
};
/** What the file log wrote before linesOf. */
const oldLines = (es: ReturnType<typeof entries>) => es.map((b) => JSON.stringify({ s: b.stream, e: b.event, a: b.at })).join('\n') + '\n';

const chunk = (i: number) => {
  const { events: evs } = parseBatch(bodies[i & 63].toString('utf8'));
  return { type: 'loflow/chunk', stream: 'extension', learner: null, prev: null, count: evs.length, events: evs.map((e, k) => ({ o: i * BATCH + k, t: 1764000000000, e, i: i * BATCH + k })) };
};
const chunks = Array.from({ length: 64 }, (_, i) => chunk(i));

const rows: Array<[string, number]> = [];
rows.push(['JSON.parse of the body (baseline)', await nsPerEvent((i) => JSON.parse(bodies[i & 63].toString('utf8')))]);
rows.push(['parseBatch', await nsPerEvent((i) => parseBatch(bodies[i & 63].toString('utf8')))]);
// The log takes each kept text (as it does when it writes); left in the WeakMap they would cost more.
rows.push(['parseBatch, keeping each event text, then taking it (file log)', await nsPerEvent((i) => { for (const e of parseBatch(bodies[i & 63].toString('utf8'), 1).events) takeRawJson(e as object); })]);
rows.push(['parse + log lines, JSON.stringify per entry (before)', await nsPerEvent((i) => Buffer.from(oldLines(entries(i, false))))]);
rows.push(['parse + log lines, linesOf without kept text', await nsPerEvent((i) => Buffer.from(linesOf(entries(i, false))))]);
rows.push(['parse + log lines, linesOf with kept text (now)', await nsPerEvent((i) => Buffer.from(linesOf(entries(i, true))))]);
rows.push(['archive chunk: normalize + dagCbor.encode (before)', await nsPerEvent((i) => dagCbor.encode(normalize(chunks[i & 63])))]);
rows.push(['archive chunk: dagCbor.encode alone (floor)', await nsPerEvent((i) => dagCbor.encode(chunks[i & 63]))]);
rows.push(['event bytes: dagCbor.encode (before)', await nsPerEvent((i) => { for (const e of chunks[i & 63].events) dagCbor.encode(e); })]);
rows.push(['event bytes: encodeJson (now: archive/json-cbor.ts)', await nsPerEvent((i) => { for (const e of chunks[i & 63].events) encodeJson(e); })]);
let pending = 0;
rows.push(['archive chunk: encodeBlock, sha2-256 included (now)', await nsPerEvent((i) => { pending++; void encodeBlock(chunks[i & 63]).then(() => pending--); })]);
while (pending) await new Promise((r) => setImmediate(r));

console.log(`hot paths, ${BATCH}-event batches, ns per event (lower is better), Node ${process.version}`);
for (const [name, ns] of rows) console.log(`${ns.toFixed(0).padStart(7)}  ${name}`);
