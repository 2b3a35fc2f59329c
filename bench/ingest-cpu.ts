// CPU time the loflow process spends per event on POST /v1/events (100-event batches, autocannon in a child
// process), with the memory log and with the file log, memory state. Throughput on a shared 2-core machine
// swings with what else runs; the server process's own CPU time per event swings far less, so a change to
// the ingest path shows here first. Run: LOFLOW_LOG_LEVEL=warn node dist/bench/ingest-cpu.js [seconds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classroom } from '../engine/classroom.js';
import { FileInputLog } from '../engine/log/file-log.js';
import { Engine } from '../engine/runtime.js';
import { startServer } from '../engine/server/index.js';
import { cannon } from './cannon.js';
import { demo } from './fixtures.js';

const seconds = Number(process.argv[2] ?? 8);
const size = 100;
const dir = mkdtempSync(join(tmpdir(), 'loflow-ingest-cpu-'));
const pipeline = await demo();
const events = [...new Classroom({ students: 200, seed: size }).events(size)].map((e) => e.event);
// As bench/workloads.ts's http-ingest: 64 bodies that differ in their documents.
const bodies = Array.from({ length: 64 }, (_, v) => JSON.stringify(events.map((e) => (typeof e.doc_id === 'string' ? { ...e, doc_id: `${e.doc_id}-v${v}` } : e))));
try {
  for (const mode of ['memory log', 'file log'] as const) {
    const engine = new Engine({ ...pipeline, name: `ingest-cpu-${mode.replace(/\W/g, '')}` }, mode === 'file log' ? { log: new FileInputLog(mkdtempSync(join(dir, 'log-'))) } : {});
    await engine.start();
    const s = await startServer({ pipeline, engine, port: 0, limits: { ratePerSec: Infinity } });
    await cannon(`${s.url}/v1/events`, bodies, 10, 2, dir); // warm up the JIT
    const c0 = process.cpuUsage();
    const r = await cannon(`${s.url}/v1/events`, bodies, 10, seconds, dir);
    const c = process.cpuUsage(c0);
    await s.stop();
    await engine.stop();
    const n = r.rps * seconds * size;
    console.log(`${mode}: ${Math.round(r.rps * size).toLocaleString('en')} events/s, ${((c.user + c.system) / n).toFixed(2)} µs CPU per event in the loflow process (p99 ${r.p99} ms)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
