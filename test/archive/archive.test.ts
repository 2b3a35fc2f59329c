import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { Classroom } from '../../engine/classroom.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import { openArchive } from '../../archive/replay-source.js';
import { resultCid } from '../../archive/result-cid.js';
import { CID } from '../../archive/blocks.js';

const demo = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');

async function replayCar(file: string) {
  const { pipeline } = await compilePipelineFile(demo);
  const engine = new Engine(pipeline!);
  const archive = await openArchive(file);
  let batch: { stream: string; event: any }[] = [];
  for await (const e of archive.events([...pipeline!.sources.keys()])) {
    batch.push(e);
    if (batch.length === 700) {
      await engine.ingest('extension', batch.map((x) => x.event));
      batch = [];
    }
  }
  await engine.ingest('extension', batch.map((x) => x.event));
  await engine.flush();
  const results = engine.results();
  return { results, cid: await resultCid(results), archive };
}

describe('archive', () => {
  it('archives a live run; the CAR verifies, replays to the same states, and the same result CID twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-archive-'));
    const { pipeline } = await compilePipelineFile(demo);
    const writer = await ArchiveWriter.open(join(dir, 'archive'), { name: pipeline!.name, text: pipeline!.text, sources: pipeline!.sources.keys() }, 500);
    const engine = new Engine(pipeline!, { archive: writer, batchSize: 256 });
    const events = [...new Classroom({ students: 12, seed: 21 }).events(3000)].map((e) => e.event);
    for (let i = 0; i < 1500; i += 300) await engine.ingest('extension', events.slice(i, i + 300));
    await engine.flush();
    const first = await writer.commit();
    for (let i = 1500; i < 3000; i += 300) await engine.ingest('extension', events.slice(i, i + 300));
    await engine.flush();
    const second = await writer.commit();
    expect(second).not.toBe(first);
    const live = engine.results();

    const car = join(dir, 'run.car');
    const exported = await exportCar(writer.store, CID.parse(second), car);
    expect(exported.blocks).toBeGreaterThan(6);
    const v = await verifyCar(car);
    expect(v).toMatchObject({ ok: true, root: second });

    const a = await replayCar(car);
    const b = await replayCar(car);
    expect(a.cid).toBe(b.cid);
    expect(a.results).toEqual(live);
    expect(a.archive.commit.counts.extension).toBe(3000);
    expect(a.archive.commit.prev!.toString()).toBe(first);
    expect(a.archive.commit.counts.burst).toBe(engine.stats().emitted);
    await engine.stop();
  });

  it('names the bad block when one byte of a CAR is corrupted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-archive-'));
    const writer = await ArchiveWriter.open(join(dir, 'a'), { name: 'p', text: 'pipeline: p', sources: ['s'] }, 10);
    await writer.append('s', Array.from({ length: 25 }, (_, i) => ({ offset: i, stream: 's', event: { event: 'x', n: i, text: 'some words to find' }, at: i })));
    const root = await writer.commit();
    const car = join(dir, 'x.car');
    await exportCar(writer.store, CID.parse(root), car);
    const bytes = readFileSync(car);
    const at = bytes.lastIndexOf(Buffer.from('some words to find')) + 3;
    bytes[at] ^= 0x20;
    writeFileSync(car, bytes);
    const v = await verifyCar(car);
    expect(v.ok).toBe(false);
    expect(v.error).toMatch(/^block #\d+ bafy[a-z0-9]+: its bytes do not hash to its CID \(corrupted\)$/);
  });

  it('skips events it has already archived when a batch is re-sent after a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-archive-'));
    const ev = (i: number) => ({ offset: i, stream: 's', event: { event: 'x', n: i }, at: i });
    const w1 = await ArchiveWriter.open(dir, { name: 'p', text: 't', sources: ['s'] });
    await w1.append('s', [0, 1, 2].map(ev));
    await w1.commit();
    const w2 = await ArchiveWriter.open(dir, { name: 'p', text: 't', sources: ['s'] });
    await w2.append('s', [1, 2, 3, 4].map(ev));
    const root = await w2.commit();
    const car = join(dir, 'y.car');
    await exportCar(w2.store, CID.parse(root), car);
    const offsets = [];
    for await (const e of (await openArchive(car)).events()) offsets.push(e.offset);
    expect(offsets).toEqual([0, 1, 2, 3, 4]);
  });
});
