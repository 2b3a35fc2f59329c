// A commit that reaches Redis but whose reply is lost (the connection drops after commit.lua ran): the engine
// cannot tell from the error, so it sends the very same commit again, and commit.lua answers DONE (its cursor
// is already at the batch's end): a batch already committed is not applied twice. The fault is injected
// around a real Redis store: the commit runs, then the caller gets the error a dropped connection gives.
import { describe, expect, inject, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { unavailable } from '../../engine/unavailable.js';
import type { Commit, Json, StateStore } from '../../engine/types.js';

const demo = new URL('../../pipelines/writing-observer.yaml', import.meta.url).pathname;

async function snapshot(store: StateStore, pipeline: string): Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.key}`] = state;
  return out;
}

describe('a commit whose reply is lost', () => {
  it('is re-sent, answered DONE by commit.lua, and not applied again', async () => {
    const { pipeline } = await compilePipelineFile(demo);
    const p = { ...pipeline!, name: `lostreply${Date.now()}` };
    const events = [...new Classroom({ students: 20, seed: 4 }).events(2000)].map((e) => e.event);

    const redis = await RedisStateStore.connect(inject('redisUrl'));
    let commits = 0;
    const lossy = Object.assign(Object.create(redis) as RedisStateStore, {
      async commit(c: Commit) {
        const answer = await redis.commit(c);
        // Every third commit: applied, but the caller hears a dropped connection.
        if (++commits % 3 === 0) throw unavailable('redis', new Error('Connection is closed.'));
        return answer;
      },
    });
    const engine = new Engine(p, { store: lossy, batchSize: 200, retryMs: 5 });
    const retries: unknown[] = [];
    engine.on('retry', (e) => retries.push(e));
    for (let i = 0; i < events.length; i += 250) await engine.ingest('batch', events.slice(i, i + 250));
    await engine.flush();
    const got = await snapshot(redis, p.name);
    await engine.stop();

    const memory = new MemoryStateStore();
    const reference = new Engine(p, { store: memory });
    for (let i = 0; i < events.length; i += 250) await reference.ingest('batch', events.slice(i, i + 250));
    await reference.flush();
    expect(retries.length).toBeGreaterThan(2); // the lost replies happened
    expect(got).toEqual(await snapshot(memory, p.name));
    expect(engine.stats().processed).toBe(2000);
    // Every lost reply was answered DONE by the re-sent commit (one lost reply per three commits).
    expect(engine.stats().commits.done).toBe(Math.floor(commits / 3));
    expect(engine.stats().commits.done).toBeGreaterThan(2);
  });
});
