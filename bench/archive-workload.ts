// The archive workload: write, export to CAR, verify, and a pseudonymized study export, each reported as a
// ratio to sha2-256 (node:crypto) over the same bytes, hashed in the same run (the machine's load moves both).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ArchiveWriter } from '../archive/writer.js';
import { exportCar, verifyCar } from '../archive/car.js';
import { CID } from '../archive/blocks.js';
import { folderSource } from '../archive/read.js';
import { identifierPaths } from '../archive/learners.js';
import { exportSelection } from '../archive/rewrite.js';
import { Classroom } from '../engine/classroom.js';
import { demoFile } from './fixtures.js';
import type { Ctx } from './types.js';

/** sha2-256 throughput over `bytes` (MB/s), in 256 KiB pieces: the best of three passes. */
function hashRate(bytes: Buffer): number {
  let best = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    for (let i = 0; i < bytes.length; i += 256 * 1024) createHash('sha256').update(bytes.subarray(i, i + 256 * 1024)).digest();
    best = Math.min(best, performance.now() - t0);
  }
  return bytes.length / 1024 / 1024 / (best / 1000);
}

const seconds = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

export const archive = {
  name: 'archive',
  async run(ctx: Ctx) {
    const n = ctx.quick ? 100_000 : 500_000;
    const events = [...new Classroom({ students: 200, seed: 4 }).events(n)].map((e, i) => ({ offset: i, stream: 'extension', event: e.event, at: 0 }));
    const dir = mkdtempSync(join(ctx.dir, 'archive-'));
    const json = Buffer.from(events.map((e) => JSON.stringify(e.event)).join('\n'));
    const mb = json.length / 1024 / 1024;
    const jsonHash = hashRate(json);
    const writer = await ArchiveWriter.open(join(dir, 'a'), { name: 'bench', text: 'pipeline: bench', sources: ['extension'] });
    let root = '';
    const writeS = await seconds(async () => {
      for (let i = 0; i < events.length; i += 4096) await writer.append('extension', events.slice(i, i + 4096));
      root = await writer.commit();
    });
    const car = join(dir, 'x.car');
    let exported = { blocks: 0, bytes: 0 };
    const exportS = await seconds(async () => (exported = await exportCar(writer.store, CID.parse(root), car)));
    let v: Awaited<ReturnType<typeof verifyCar>> | null = null;
    const verifyS = await seconds(async () => (v = await verifyCar(car)));
    if (!v!.ok) throw new Error(v!.error);
    const carMB = exported.bytes / 1024 / 1024;
    const carHash = hashRate(readFileSync(car));
    const fig = (name: string, value: number, base: number, goal: number | null, note: string) =>
      ctx.figures.push({ workload: 'archive', name, value, unit: 'MB/s', baseline: base, ratio: value / base, ...(goal === null ? {} : { goal: `>= ${goal}x sha2-256 over the same bytes`, met: value / base >= goal }), note });
    fig(`write (${n.toLocaleString('en')} events, ${mb.toFixed(1)} MB of JSON; fsync per chunk)`, mb / writeS, jsonHash, null, `${Math.round(n / writeS).toLocaleString('en')} events/s`);
    fig('export to CAR', carMB / exportS, carHash, 0.5, `${Math.round(n / exportS).toLocaleString('en')} events/s`);
    fig('verify CAR (every hash, DAG complete)', carMB / verifyS, carHash, 0.5, `${Math.round(n / verifyS).toLocaleString('en')} events/s`);
    // A study export: every event re-read, pseudonymized, re-chunked and re-indexed into a new DAG, then a CAR.
    await writer.close();
    const key = Buffer.from('bench-key-0123456789');
    const idFields = identifierPaths(readFileSync(demoFile, 'utf8')).filter((f) => f !== '$.url');
    let study = { bytes: 0, events: 0 };
    const studyS = await seconds(async () => (study = await exportSelection(await folderSource(join(dir, 'a')), { deidentify: { key, idFields, dropFields: ['$.url'] } }, join(dir, 'study.car'))));
    const studyHash = hashRate(readFileSync(join(dir, 'study.car')));
    fig('pseudonymized export (HMAC of every declared identifier, drop a field, new DAG, CAR)', study.bytes / 1024 / 1024 / studyS, studyHash, 0.25, `${Math.round(study.events / studyS).toLocaleString('en')} events/s`);
    rmSync(dir, { recursive: true, force: true });
  },
};
