// Redis: the state ops/s the engine's RedisStateStore achieves with the engine's real batch shapes (one MGET
// per level for states not yet cached, one MULTI{MSET + SET offset} per batch), against redis-benchmark (GET,
// SET, MSET and MGET, pipelined) on the SAME throwaway redis-server. The engine's store calls during a replay
// are recorded and played back alone (an async call's wall time in a replay also covers the file reading
// interleaved with it), so the ratio compares the store's I/O path (ioredis, JSON) with Redis's own client.
import { execFileSync } from 'node:child_process';
import { readNdjson, unwrap } from '../engine/ndjson.js';
import { Engine } from '../engine/runtime.js';
import { RedisStateStore } from '../engine/state/redis-store.js';
import type { Commit, CommitAnswer, Json, StateRef, StateStore } from '../engine/types.js';
import { demo, eventsFile } from './fixtures.js';
import { startRedis } from './servers.js';
import type { Ctx } from './types.js';

/** One store call as the engine made it; states copied at call time (the engine mutates its own). */
export type StoreOp = { load: StateRef[] } | { commit: Commit };

/** A store wrapper recording the engine's calls (the batch shapes), with copies of the written states. */
export class RecordingStore implements StateStore {
  readonly kind: string;
  readonly ops: StoreOp[] = [];
  constructor(private readonly inner: StateStore) {
    this.kind = inner.kind;
  }
  load(refs: readonly StateRef[]): Promise<Array<Json | undefined>> {
    this.ops.push({ load: [...refs] });
    return this.inner.load(refs);
  }
  commit(c: Commit): Promise<CommitAnswer | void> {
    this.ops.push({ commit: { ...c, writes: c.writes.map(([ref, s]) => [ref, JSON.parse(JSON.stringify(s)) as Json]) } });
    return this.inner.commit(c);
  }
  offset(pipeline: string) {
    return this.inner.offset(pipeline);
  }
  scan(pipeline: string, reducer?: string) {
    return this.inner.scan(pipeline, reducer);
  }
  drop(pipeline: string, reducer: string) {
    return this.inner.drop(pipeline, reducer);
  }
  close() {
    return this.inner.close();
  }
}

/** Play recorded calls against a store, one after another as the engine does; keys read+written per second. */
export async function playback(store: StateStore, ops: StoreOp[], pipeline: string): Promise<{ keys: number; seconds: number }> {
  let keys = 0;
  const t0 = performance.now();
  for (const op of ops) {
    if ('load' in op) {
      keys += op.load.length;
      await store.load(op.load.map((r) => ({ ...r, pipeline })));
    } else {
      keys += op.commit.writes.length;
      await store.commit({ pipeline, offset: op.commit.offset, writes: op.commit.writes.map(([r, s]) => [{ ...r, pipeline }, s]) });
    }
  }
  return { keys, seconds: (performance.now() - t0) / 1000 };
}

/** redis-benchmark's CSV: test name -> requests/s. */
export function parseRedisBenchmarkCsv(csv: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of csv.split('\n')) {
    const m = /^"([^"]+)","([\d.]+)"/.exec(line.trim());
    if (m && m[1] !== 'test') out.set(m[1], Number(m[2]));
  }
  return out;
}

export const redisWorkload = {
  name: 'redis',
  async run(ctx: Ctx) {
    const n = ctx.quick ? 100_000 : 500_000;
    const file = eventsFile(ctx, n);
    const pipeline = await demo();
    const redis = await startRedis();
    try {
      // 1. A replay with the Redis store, recording the engine's store calls. Cold start, so the first
      // batches load (MGET) every key they meet; later ones only commit (MULTI{MSET, SET offset}).
      const store = new RecordingStore(await RedisStateStore.connect(redis.url));
      const engine = new Engine({ ...pipeline, name: `bench-redis-${Date.now()}` }, { store, queueLimit: 4096 * 8 });
      await engine.start();
      const t0 = performance.now();
      for await (const chunk of readNdjson(file, 4096)) await engine.ingest('extension', chunk.map((l) => unwrap(l.value, 'extension').event));
      await engine.flush();
      const wall = (performance.now() - t0) / 1000;
      await engine.stop();
      const commits = store.ops.flatMap((o) => ('commit' in o ? [o.commit] : []));
      const keysWritten = commits.reduce((k, c) => k + c.writes.length, 0);
      const keysRead = store.ops.reduce((k, o) => k + ('load' in o ? o.load.length : 0), 0);
      const perCommit = Math.round(keysWritten / commits.length);
      let bytes = 0;
      for (const c of commits) for (const [, s] of c.writes) bytes += JSON.stringify(s).length;
      const valueBytes = Math.max(3, Math.round(bytes / Math.max(1, keysWritten)));
      // The same calls again, straight to the store with nothing else on the event loop, repeated for ~2 s
      // (each round under a fresh pipeline name, so every load is a real miss as in the cold replay).
      const direct = await RedisStateStore.connect(redis.url);
      let played = { keys: 0, seconds: 0 };
      for (let round = 0; played.seconds < (ctx.quick ? 1 : 3); round++) {
        const r = await playback(direct, store.ops, `bench-redis-play-${round}`);
        played = { keys: played.keys + r.keys, seconds: played.seconds + r.seconds };
      }
      await direct.close();
      const storeRate = played.keys / played.seconds;
      const keys = keysRead + keysWritten;
      // 2. redis-benchmark on the same server: pipelined GET/SET (depth = 16) and MSET (10 keys per command),
      // values of the engine's average state size, random keys over a keyspace like the engine's.
      const depth = 16;
      const requests = ctx.quick ? 100_000 : 500_000;
      const csv = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-P', String(depth), '-t', 'get,set,mset', '-n', String(requests), '-d', String(valueBytes), '-r', '100000', '--csv'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      // MGET is not among -t's tests: a custom command, 10 random keys of those SET just wrote.
      const mgetCsv = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-P', String(depth), '-n', String(requests), '-r', '100000', '--csv', 'MGET', ...Array<string>(10).fill('key:__rand_int__')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const rb = parseRedisBenchmarkCsv(csv + mgetCsv);
      const set = rb.get('SET') ?? NaN;
      const get = rb.get('GET') ?? NaN;
      const msetKeys = (rb.get('MSET (10 keys)') ?? NaN) * 10;
      const mgetKeys = ([...rb].find(([k]) => k.startsWith('MGET'))?.[1] ?? NaN) * 10;
      const loads = store.ops.length - commits.length;
      const shape = `${commits.length} commits of ~${perCommit} keys, ${loads} loads of ${keysRead} keys in all; ${valueBytes} B states`;
      ctx.figures.push({
        workload: 'redis',
        name: `RedisStateStore, the engine's store calls of a ${n.toLocaleString('en')}-event replay played back (${shape}), keys read+written/s; baseline redis-benchmark -P ${depth} SET`,
        value: storeRate,
        unit: 'ops/s',
        baseline: set,
        ratio: storeRate / set,
      });
      ctx.figures.push({ workload: 'redis', name: `same, against redis-benchmark MSET (10 keys a command, -P ${depth}), in keys/s`, value: storeRate, unit: 'ops/s', baseline: msetKeys, ratio: storeRate / msetKeys });
      ctx.figures.push({ workload: 'redis', name: `same, against redis-benchmark -P ${depth} GET`, value: storeRate, unit: 'ops/s', baseline: get, ratio: storeRate / get });
      ctx.figures.push({ workload: 'redis', name: `same, against redis-benchmark MGET (10 random keys a command, -P ${depth}), in keys/s`, value: storeRate, unit: 'ops/s', baseline: mgetKeys, ratio: storeRate / mgetKeys });
      ctx.figures.push({
        workload: 'redis',
        name: 'state ops/s over the whole replay (engine time included)',
        value: keys / wall,
        unit: 'ops/s',
        note: `${Math.round(n / wall).toLocaleString('en')} events/s`,
      });
      ctx.log(`redis: store ${Math.round(storeRate)} keys/s; redis-benchmark SET ${set}/s, GET ${get}/s, MSET ${msetKeys} keys/s, MGET ${mgetKeys} keys/s`);
    } finally {
      await redis.stop();
    }
  },
};
