// The in-memory input log: offsets, reads after truncation, and entries it keeps as they are.
import { describe, expect, it } from 'vitest';
import { MemoryInputLog } from '../../engine/log/memory-log.js';

const entry = (n: number) => ({ stream: 'in', event: { n }, at: 1000 + n });

describe('MemoryInputLog', () => {
  it('numbers appends densely and reads them back in order', async () => {
    const log = new MemoryInputLog();
    expect(await log.append([0, 1, 2].map(entry))).toEqual({ first: 0, count: 3 });
    expect(await log.append([3, 4].map(entry))).toEqual({ first: 3, count: 2 });
    expect(await log.read(1, 3)).toEqual([1, 2, 3].map((n) => ({ offset: n, ...entry(n) })));
    expect(await log.end()).toBe(5);
  });

  it('keeps an entry shaped as a logged event (the engine builds them so) as that event, with its offset set', async () => {
    const log = new MemoryInputLog();
    await log.append([entry(0)]);
    const own = { offset: -1, ...entry(1) };
    await log.append([own]);
    const [read] = await log.read(1, 1);
    expect(read).toBe(own);
    expect(read).toEqual({ offset: 1, ...entry(1) });
  });

  it('forgets truncated events at once, also below the step at which it cuts its array', async () => {
    const log = new MemoryInputLog();
    await log.append(Array.from({ length: 10 }, (_, n) => entry(n)));
    await log.truncate(4);
    expect((await log.read(0, 100)).map((e) => e.offset)).toEqual([4, 5, 6, 7, 8, 9]);
    await log.truncate(10);
    expect(await log.read(0, 100)).toEqual([]);
    expect(await log.append([entry(10)])).toEqual({ first: 10, count: 1 });
    expect((await log.read(0, 100)).map((e) => e.offset)).toEqual([10]);
  });

  it('reads across its chunks and truncates whole ones away, offsets unchanged', async () => {
    const log = new MemoryInputLog();
    for (let i = 0; i < 10_000; i += 1000) await log.append(Array.from({ length: 1000 }, (_, n) => entry(i + n)));
    expect((await log.read(4094, 4)).map((e) => e.event.n)).toEqual([4094, 4095, 4096, 4097]);
    await log.truncate(5000);
    expect((await log.read(0, 3)).map((e) => e.offset)).toEqual([5000, 5001, 5002]);
    expect((await log.read(8190, 5)).map((e) => e.offset)).toEqual([8190, 8191, 8192, 8193, 8194]);
    await log.truncate(9999);
    expect((await log.read(0, 10)).map((e) => e.offset)).toEqual([9999]);
    expect(await log.append([entry(10_000)])).toEqual({ first: 10_000, count: 1 });
    expect((await log.read(9999, 10)).map((e) => e.event.n)).toEqual([9999, 10_000]);
    expect(await log.end()).toBe(10_001);
  });

  it('continues numbering at a store’s committed offset when empty', async () => {
    const log = new MemoryInputLog();
    log.startAt(42);
    expect(await log.append([entry(0)])).toEqual({ first: 42, count: 1 });
    expect((await log.read(0, 10)).map((e) => e.offset)).toEqual([42]);
  });
});

describe('MemoryInputLog: producer re-sends', () => {
  const sent = (producer: string, seq: number, n: number) => Array.from({ length: n }, (_, i) => ({ ...entry(seq + i), producer, seq: seq + i }));

  it('drops events whose producer sequence it holds, also in a batch that overlaps a logged one', async () => {
    const log = new MemoryInputLog();
    expect(await log.append(sent('p', 0, 10))).toEqual({ first: 0, count: 10 });
    expect(await log.append(sent('p', 0, 10))).toEqual({ first: 10, count: 0 });
    expect(await log.append(sent('p', 5, 10))).toEqual({ first: 10, count: 5 });
    expect(await log.append(sent('q', 0, 3))).toEqual({ first: 15, count: 3 }); // another producer's own numbers
    expect((await log.read(10, 100)).map((e) => e.event.n)).toEqual([10, 11, 12, 13, 14, 0, 1, 2]);
    expect(log.producerSeqs('p')!.contiguous()).toBe(14);
  });

  it('takes a batch that arrives after a later one (concurrent sends): only true re-sends are dropped', async () => {
    const log = new MemoryInputLog();
    await log.append(sent('p', 0, 5));
    await log.append(sent('p', 10, 5)); // 5..9 still in flight
    expect(log.producerSeqs('p')!.contiguous()).toBe(4);
    expect((await log.append(sent('p', 5, 5))).count).toBe(5);
    expect(log.producerSeqs('p')!.contiguous()).toBe(14);
    expect((await log.append(sent('p', 0, 15))).count).toBe(0);
  });

  it('keeps bounded memory per producer: past 64 gaps the lowest is taken as filled', async () => {
    const log = new MemoryInputLog();
    for (let i = 0; i < 100; i++) await log.append(sent('p', i * 10, 5)); // every batch leaves a gap of 5
    expect(log.producerSeqs('p')!.contiguous()).toBe(36 * 10 + 4); // 36 lowest gaps filled, 64 kept
    expect((await log.append(sent('p', 995, 5))).count).toBe(5); // a gap still kept is taken
    expect((await log.append(sent('p', 5, 5))).count).toBe(0); // a gap given up is not
  });
});
