import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileInputLog } from '../../engine/log/file-log.js';
import { linesOf, producerAtEnd } from '../../engine/log/segment-lines.js';
import { tombstone } from '../../engine/retention/file-log.js';

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
    expect((await log.read(9, 10)).map((e) => e.offset)).toEqual([9, 10]); // the disk part, then on in memory
    expect((await log.read(10, 10)).map((e) => e.event.n)).toEqual([10]);
    await log.close();
  });

  it('reads the open segment again once it holds lines a reader asks for', async () => {
    const log = new FileInputLog(mkdtempSync(join(tmpdir(), 'loflow-log-')));
    await log.append([0, 1, 2, 3, 4].map(ev));
    log.release(5);
    expect((await log.read(0, 2)).map((e) => e.offset)).toEqual([0, 1]); // the segment's 5 lines read
    await log.append([5, 6, 7].map(ev));
    log.release(8);
    expect((await log.read(0, 100)).map((e) => e.event.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
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

describe('file input log open', () => {
  it('reads closed segments only when asked: producers.json keeps their producers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-log-'));
    const a = new FileInputLog(dir, 3);
    for (let n = 0; n < 10; n++) await a.append([{ ...ev(n), producer: n % 2 ? 'odd' : 'even', seq: n }]);
    await a.close();
    // Closed segments (0-2, 3-5, 6-8) are covered by producers.json: damage one and the open does not notice.
    const seg3 = join(dir, 'segment-000000000003.ndjson');
    const text = readFileSync(seg3, 'utf8');
    writeFileSync(seg3, 'not json\n'.repeat(3));
    const b = new FileInputLog(dir, 3);
    expect(await b.end()).toBe(10);
    expect([b.producerSeq('odd'), b.producerSeq('even')]).toEqual([9, 8]);
    expect((await b.append([{ ...ev(7), producer: 'odd', seq: 7 }])).count).toBe(0); // a re-send
    // A reader that goes back that far reads the segment (and would meet the damage).
    await expect(b.read(3, 3)).rejects.toThrow(SyntaxError);
    writeFileSync(seg3, text);
    expect((await b.read(0, 100)).map((e) => e.event.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await b.close();
    // producers.json as earlier versions wrote it (the map alone) covers nothing for certain: all is read.
    writeFileSync(join(dir, 'producers.json'), JSON.stringify({ old: 3 }));
    const c = new FileInputLog(dir, 3);
    expect([c.producerSeq('old'), c.producerSeq('odd'), c.producerSeq('even')]).toEqual([3, 9, 8]);
    expect((await c.read(0, 100)).length).toBe(10);
    await c.close();
  });

  it("reads a line's producer off its end as JSON.parse would, whatever the event holds", () => {
    const odd = ['p', '', 'a"b', 'x\\', '\\"', ',"p":"y","q":1}', 'é ☃', '\u0000'];
    const events: unknown[] = [{ q: 1 }, { a: ',"q":5}' }, 'str,"p":"z","q":7}', null, [1, { p: 'x', q: 2 }], { s: '\\' }];
    let n = 0;
    for (const producer of [...odd, undefined])
      for (const event of events)
        for (const seq of [0, 7, -3, 1e21, 2.5]) {
          const line = linesOf([{ stream: 's"t', event: event as never, at: 1.5, ...(producer === undefined ? {} : { producer, seq }) }]).slice(0, -1);
          const x = JSON.parse(line) as { p?: string; q?: number };
          expect(producerAtEnd(line)).toEqual(x.p === undefined ? undefined : [x.p, x.q]);
          n++;
        }
    expect(n).toBe(9 * 6 * 5);
    // A tombstone of retention (engine/retention/file-log.ts) keeps the producer and is padded with spaces.
    expect(producerAtEnd(tombstone({ s: 's', e: { big: 'x'.repeat(50) }, a: 1, p: 'pr', q: 12 }) + ' '.repeat(40))).toEqual(['pr', 12]);
    expect(producerAtEnd(tombstone({ s: 's', e: {}, a: 1 }) + '   ')).toBeUndefined();
  });
});

