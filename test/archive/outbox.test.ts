// The outbox: a batch's archived derived events are committed with its states in Redis, and dropped once an
// archive commit holds them, so the outbox stays as small as the archive's commit interval.
import { describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { demoFile, tmp } from './helpers.js';

// Each keystroke is 5 s after the student's previous one: it closes a burst, so every batch emits `burst` events.
const keystrokes = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ event: 'keystroke', ts: (from + i) * 100, auth: { user_id: `s-${String((from + i) % 50).padStart(4, '0')}` }, keystroke: { type: 'keydown', key: 'a' } }));

describe('derived events outbox', () => {
  it('holds each batch’s derived events until an archive commit has them, then drops them', async () => {
    const name = `outbox${Date.now()}`;
    const text = readFileSync(demoFile, 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`).replace('commit_every: 10s', 'commit_every: 1h');
    const { pipeline, errors } = await compilePipeline(text, demoFile);
    expect(errors).toEqual([]);
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const writer = await ArchiveWriter.open(join(tmp(), 'archive'), { name, text, sources: pipeline!.sources.keys() });
    const engine = new Engine(pipeline!, { store, archive: writer, batchSize: 100 });
    const pending = async () => (await store.outbox(name)).flatMap((e) => e.streams.burst ?? []);

    await engine.ingest('batch', keystrokes(0, 300));
    await engine.flush();
    const held = await pending();
    expect(held.length).toBe(250); // every keystroke after a student's first closes a burst
    expect(held.every((e) => e.stream === 'burst' && e.event.count === 1 && e.event.key === (e.event.auth as any).user_id)).toBe(true);

    await writer.commit(); // the archive now holds them durably
    await engine.ingest('batch', keystrokes(300, 100));
    await engine.flush();
    const left = await pending();
    expect(left.length).toBe(100); // only the batch after the archive commit
    expect(Math.min(...left.map((e) => e.offset))).toBeGreaterThanOrEqual(300);
    await engine.stop();
  });
});
