import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileInputLog } from '../../engine/log/file-log.js';

const ev = (n: number) => ({ stream: 's', event: { event: 'x', n }, at: n });

describe('file input log', () => {
  it('survives reopening, drops a torn last line, and drops re-sent producer sequences', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-log-'));
    const a = new FileInputLog(dir, 4);
    expect(await a.append([0, 1, 2].map((n) => ({ ...ev(n), producer: 'p', seq: n })))).toEqual({ first: 0, count: 3 });
    expect(await a.append([1, 2, 3, 4].map((n) => ({ ...ev(n), producer: 'p', seq: n })))).toEqual({ first: 3, count: 2 });
    await a.close();
    // A crash in the middle of a write leaves half a line (never acknowledged).
    const seg = readdirSync(dir).filter((f) => f.startsWith('segment-')).sort().at(-1)!;
    appendFileSync(join(dir, seg), '{"s":"s","e":{"ev');
    const b = new FileInputLog(dir, 4);
    expect(await b.end()).toBe(5);
    expect((await b.read(0, 10)).map((e) => e.event.n)).toEqual([0, 1, 2, 3, 4]);
    expect(b.producerSeq('p')).toBe(4);
    expect(await b.append([ev(5)].map((e) => ({ ...e, producer: 'p', seq: 4 })))).toEqual({ first: 5, count: 0 });
    expect((await b.append([ev(5)])).count).toBe(1);
    await b.close();
  });

  it('deletes whole segments below the committed offset and keeps producers’ sequences', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-log-'));
    const log = new FileInputLog(dir, 2);
    for (let i = 0; i < 6; i++) await log.append([{ ...ev(i), producer: 'p', seq: i }]);
    expect(readdirSync(dir).filter((f) => f.startsWith('segment-'))).toHaveLength(3);
    await log.truncate(6);
    await log.close();
    const again = new FileInputLog(dir, 2);
    expect(again.producerSeq('p')).toBe(5);
    expect(readdirSync(dir).filter((f) => f.startsWith('segment-')).length).toBeLessThan(3);
    expect((await again.append([{ ...ev(3), producer: 'p', seq: 3 }])).count).toBe(0);
    await again.close();
  });
});

describe('file input log group commit', () => {
  it('gives concurrent appends their own consecutive offsets and drops re-sends within one group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-log-'));
    const log = new FileInputLog(dir);
    const results = await Promise.all([
      log.append([0, 1].map((n) => ({ ...ev(n), producer: 'p', seq: n }))),
      log.append([1, 2].map((n) => ({ ...ev(n), producer: 'p', seq: n }))), // seq 1 re-sent in the same group
      log.append([ev(10)]),
      log.append([0, 1].map((n) => ({ ...ev(20 + n), producer: 'q', seq: n }))),
    ]);
    expect(results).toEqual([
      { first: 0, count: 2 },
      { first: 2, count: 1 },
      { first: 3, count: 1 },
      { first: 4, count: 2 },
    ]);
    await log.close();
    const again = new FileInputLog(dir);
    expect((await again.read(0, 10)).map((e) => e.event.n)).toEqual([0, 1, 2, 10, 20, 21]);
    expect([again.producerSeq('p'), again.producerSeq('q')]).toEqual([2, 1]);
    await again.close();
  });
});

describe('file input log release', () => {
  it('lets committed events leave memory and reads them back from their segments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-log-'));
    const log = new FileInputLog(dir, 3);
    for (let n = 0; n < 10; n++) await log.append([ev(n)]);
    log.release(10); // all committed: memory is emptied, the segments stay
    expect((await log.read(0, 100)).map((e) => [e.offset, e.event.n])).toEqual(Array.from({ length: 10 }, (_, n) => [n, n]));
    expect((await log.read(4, 3)).map((e) => e.offset)).toEqual([4, 5, 6]);
    await log.append([ev(10)]);
    expect((await log.read(9, 10)).map((e) => e.offset)).toEqual([9]); // the disk part; the caller reads on
    expect((await log.read(10, 10)).map((e) => e.event.n)).toEqual([10]);
    await log.close();
  });
});

describe('durable log with the in-memory state store', () => {
  it('keeps the log whole, so a restarted engine rebuilds the same states by replaying it', async () => {
    const { compilePipelineFile } = await import('../../engine/compiler.js');
    const { Engine } = await import('../../engine/runtime.js');
    const { Classroom } = await import('../../engine/classroom.js');
    const { pipeline } = await compilePipelineFile(join(import.meta.dirname, '../../pipelines/writing-observer.yaml'));
    const dir = mkdtempSync(join(tmpdir(), 'loflow-log-'));
    const events = [...new Classroom({ students: 10, seed: 5 }).events(2000)].map((e) => e.event);
    const first = new Engine(pipeline!, { log: new FileInputLog(dir, 500), batchSize: 300 });
    await first.ingest('batch', events);
    await first.flush();
    const before = first.results();
    await first.stop();

    const second = new Engine(pipeline!, { log: new FileInputLog(dir, 500) });
    await second.start();
    await second.flush();
    expect(second.stats().processed).toBe(2000); // the whole log again: nothing was truncated
    expect(second.results()).toEqual(before);
    await second.stop();
  });
});
