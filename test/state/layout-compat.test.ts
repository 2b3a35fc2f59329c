// A Redis store written by the layout-1 code (MULTI commits, cursor in lf:{p}:offset and :clock; the fixture
// is a dump of one, made by loflow d90f332 from 600 classroom events) is taken over by layout 2: the cursor
// and clock move into lf:{p}:cur once, atomically; state and index keys keep their names; the engine resumes
// at the old offset and, after more events, holds the same states as one uninterrupted run of them all.
import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Classroom } from '../../engine/classroom.js';
import { MemoryInputLog } from '../../engine/log/memory-log.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { Json, StateStore } from '../../engine/types.js';

const demo = new URL('../../pipelines/writing-observer.yaml', import.meta.url).pathname;
const fixture = JSON.parse(readFileSync(new URL('../fixtures/layout1-store.json', import.meta.url), 'utf8')) as {
  keys: Record<string, { string?: string; zset?: string[]; list?: string[] }>;
};

async function snapshot(store: StateStore, pipeline: string): Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.key}`] = state;
  return out;
}

describe('a store written by layout 1', () => {
  it('is migrated at takeover and resumed exactly where it stopped', async () => {
    const name = `layout1x${Math.random().toString(36).slice(2, 7)}`;
    const raw = new Redis(inject('redisUrl'));
    // Restore the dump under a fresh pipeline name (key names carry it in their hash tag).
    const rename = (k: string) => k.replace('{layout1}', `{${name}}`);
    for (const [k, v] of Object.entries(fixture.keys)) {
      if (v.string !== undefined) await raw.set(rename(k), v.string);
      if (v.zset) for (let i = 0; i < v.zset.length; i += 2) await raw.zadd(rename(k), v.zset[i + 1], v.zset[i]);
      if (v.list) await raw.rpush(rename(k), ...v.list);
    }
    expect(await raw.get(`lf:{${name}}:offset`)).toBe('600');
    const { pipeline } = await compilePipelineFile(demo);
    const p = { ...pipeline!, name };
    const all = [...new Classroom({ students: 10, seed: 11 }).events(1000)].map((e) => e.event);

    const store = await RedisStateStore.connect(inject('redisUrl'));
    // A read-only caller (state ls) sees layout 1's cursor before any takeover.
    expect(await store.offset(name)).toBe(600);
    const log = new MemoryInputLog();
    await log.append(all.slice(0, 600).map((event) => ({ stream: 'extension', event: event as never, at: 0 })));
    const engine = new Engine(p, { store, log });
    await engine.start();
    expect(engine.stats().committedOffset).toBe(600);
    expect(await raw.exists(`lf:{${name}}:offset`, `lf:{${name}}:clock`)).toBe(0);
    expect(await raw.hget(`lf:{${name}}:cur`, 'clock')).toBe(fixture.keys['lf:{layout1}:clock'].string);
    for (let i = 600; i < 1000; i += 200) await engine.ingest('extension', all.slice(i, i + 200));
    await engine.flush();
    const got = await snapshot(store, name);
    expect(await raw.hget(`lf:{${name}}:cur`, 'in')).toBe('1000');
    await engine.stop();
    raw.disconnect();

    const memory = new MemoryStateStore();
    const reference = new Engine(p, { store: memory });
    for (let i = 0; i < 1000; i += 200) await reference.ingest('extension', all.slice(i, i + 200));
    await reference.flush();
    const want = await snapshot(memory, name);
    expect(Object.keys(got).length).toBeGreaterThan(10);
    expect(got).toEqual(want);
  });
});
