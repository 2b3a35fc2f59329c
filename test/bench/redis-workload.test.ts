// The Redis workload's parts with known inputs (no timing asserted): redis-benchmark's CSV, and recording
// the engine's store calls then playing them back against another store.
import { describe, expect, it } from 'vitest';
import { parseRedisBenchmarkCsv, playback, RecordingStore } from '../../bench/redis-workload.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import type { Json, StateRef } from '../../engine/types.js';

const ref = (key: string, pipeline = 'p'): StateRef => ({ pipeline, reducer: 'r', version: 'v1', key });

async function all(store: MemoryStateStore, pipeline: string): Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  for await (const [r, s] of store.scan(pipeline)) out[r.key] = s;
  return out;
}

describe('redis workload', () => {
  it('reads requests per second by test name from redis-benchmark --csv', () => {
    const csv = [
      '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"',
      '"SET","970873.81","0.736","0.224","0.671","1.359","1.967","2.527"',
      '"MSET (10 keys)","134770.89","2.659","0.944","2.775","3.351","3.951","5.199"',
      '',
    ].join('\n');
    const m = parseRedisBenchmarkCsv(csv);
    expect(m.get('SET')).toBe(970873.81);
    expect(m.get('MSET (10 keys)')).toBe(134770.89);
    expect(m.has('test')).toBe(false);
  });

  it('records loads and commits with copies of the states, and plays them back under another pipeline name', async () => {
    const inner = new MemoryStateStore();
    const rec = new RecordingStore(inner);
    const state = { n: 1 };
    expect(await rec.load([ref('a'), ref('b')])).toEqual([undefined, undefined]);
    await rec.commit({ pipeline: 'p', offset: 2, writes: [[ref('a'), state], [ref('b'), 7]] });
    state.n = 2; // the engine mutates its states after a commit: the recording must not change
    await rec.commit({ pipeline: 'p', offset: 3, writes: [[ref('a'), state]] });
    expect(rec.ops.map((o) => ('load' in o ? `load ${o.load.length}` : `commit ${o.commit.writes.length}@${o.commit.offset}`))).toEqual(['load 2', 'commit 2@2', 'commit 1@3']);

    const target = new MemoryStateStore();
    const r = await playback(target, rec.ops, 'q');
    expect(r.keys).toBe(5);
    expect(await all(target, 'q')).toEqual({ a: { n: 2 }, b: 7 });
    expect(await target.offset('q')).toBe(3);
    expect(await all(target, 'p')).toEqual({});
    // The first commit's copy kept the value it had then.
    const first = rec.ops[1];
    expect('commit' in first && first.commit.writes[0][1]).toEqual({ n: 1 });
  });
});
