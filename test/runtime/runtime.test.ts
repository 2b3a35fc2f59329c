import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { MemoryInputLog } from '../../engine/log/memory-log.js';
import { count } from '../../operators/count.js';
import type { Commit, Json, StateRef, StateStore } from '../../engine/types.js';
import { everyN, pathKey, pipelineOf, sequence } from './pipeline-fixture.js';

const user = pathKey('user', '$.user');

/** The real memory store behind random I/O latency: the engine must keep per-key order anyway. */
class SlowStore implements StateStore {
  readonly kind = 'slow-memory';
  loads = 0;
  commits = 0;
  constructor(readonly inner = new MemoryStateStore(), private readonly maxMs = 3) {}
  private delay() {
    return new Promise((r) => setTimeout(r, Math.random() * this.maxMs));
  }
  async load(refs: readonly StateRef[]) {
    this.loads++;
    await this.delay();
    return this.inner.load(refs);
  }
  async commit(c: Commit) {
    this.commits++;
    await this.delay();
    return this.inner.commit(c);
  }
  offset(p: string) {
    return this.inner.offset(p);
  }
  scan(p: string, r?: string): AsyncIterable<[StateRef, Json]> {
    return this.inner.scan(p, r);
  }
  drop(p: string, r: string) {
    return this.inner.drop(p, r);
  }
  async close() {}
}

describe('runtime', () => {
  it('applies one key’s events in arrival order while many producers ingest concurrently', async () => {
    const store = new SlowStore();
    const engine = new Engine(pipelineOf([{ name: 'seq', op: sequence, from: ['in'], key: user }]), { store, batchSize: 16 });
    // Two "connections" of the same student plus 20 other students, all sending at once.
    const producers = Array.from({ length: 22 }, (_, p) =>
      (async () => {
        for (let i = 0; i < 50; i++) {
          const u = p < 2 ? 'twice' : `u${p}`;
          await engine.ingest('in', [{ user: u, seq: `${p}:${i}` }]);
          if (i % 7 === 0) await new Promise((r) => setTimeout(r, Math.random() * 2));
        }
      })(),
    );
    await Promise.all(producers);
    await engine.flush();
    const twice = engine.view('seq', 'twice') as string[];
    expect(twice).toHaveLength(100); // no update lost
    // Each connection's own events stay in its order, and the interleaving equals the log's order.
    for (const p of [0, 1]) {
      const mine = twice.filter((s) => s.startsWith(`${p}:`));
      expect(mine).toEqual(Array.from({ length: 50 }, (_, i) => `${p}:${i}`));
    }
    for (let p = 2; p < 22; p++) expect(engine.view('seq', `u${p}`)).toHaveLength(50);
    // State I/O is batched: far fewer store round trips than events.
    expect(store.commits).toBeLessThan(engine.stats().processed);
  });

  it('gives the same result for any batch size (1, 7, 4096)', async () => {
    const events = Array.from({ length: 500 }, (_, i) => ({ user: `u${(i * 7) % 13}`, seq: i, value: i % 5 }));
    const results = [];
    for (const batchSize of [1, 7, 4096]) {
      const engine = new Engine(
        pipelineOf([
          { name: 'seq', op: sequence, from: ['in'], key: user },
          { name: 'groups', op: everyN, from: ['in'], key: user, emit: 'group' },
          { name: 'groups_seen', op: sequence, from: ['group'], key: user, level: 1 },
        ]),
        { batchSize },
      );
      for (let i = 0; i < events.length; i += 50) await engine.ingest('in', events.slice(i, i + 50));
      await engine.flush();
      results.push(engine.results());
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('runs cascades in the same pass: derived events feed downstream reducers', async () => {
    const seen: unknown[] = [];
    const engine = new Engine(
      pipelineOf([
        { name: 'groups', op: everyN, from: ['in'], key: user, emit: 'group' },
        { name: 'group_count', op: count, from: ['group'], key: user, level: 1 },
        { name: 'group_seq', op: { ...sequence, reduce: (s: number[], e: any) => (s.push(e.last), s) }, from: ['group'], key: user, level: 1 },
      ]),
    );
    engine.on('emit', (stream, e) => seen.push([stream, e.last]));
    const events = Array.from({ length: 10 }, (_, i) => ({ user: 'a', seq: i, value: 1 }));
    await engine.ingest('in', events);
    await engine.flush();
    expect(engine.view('group_count', 'a')).toBe(3); // 10 events -> 3 complete groups of 3
    expect(engine.view('group_seq', 'a')).toEqual([2, 5, 8]);
    expect(seen).toEqual([['group', 2], ['group', 5], ['group', 8]]);
    expect(engine.stats().emitted).toBe(3);
  });

  it('contains a reducer error to that event and that reducer, and dead-letters it with the reason', async () => {
    const fragile = { ...count, name: 'fragile', reduce: (n: number, e: any) => { if (e.bad) throw new Error('bad value'); return n + 1; } };
    const engine = new Engine(
      pipelineOf([
        { name: 'fragile', op: fragile, from: ['in'], key: user },
        { name: 'all', op: count, from: ['in'], key: user },
      ]),
    );
    const failures: unknown[] = [];
    engine.on('failure', (f) => failures.push(f.error));
    await engine.ingest('in', [{ user: 'a' }, { user: 'a', bad: true }, { user: 'a' }]);
    await engine.flush();
    expect(engine.view('fragile', 'a')).toBe(2);
    expect(engine.view('all', 'a')).toBe(3);
    expect(engine.stats().failed).toBe(1);
    expect(failures).toEqual(['bad value']);
    const letters = await engine.deadLetters.list();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ stage: 'reducer:fragile', event: { user: 'a', bad: true } });
    expect(letters[0].reason).toContain('bad value');
  });

  it('dead-letters the events whose key extraction or operator init throws, instead of retrying the batch', async () => {
    const throwingKey = { ...user, name: 'picky', extract: (e: any) => { if (e.weird) throw new Error('no key here'); return String(e.user); } };
    const noStart = { ...count, name: 'no_start', init: () => { throw new Error('cannot start'); } };
    const engine = new Engine(
      pipelineOf([
        { name: 'picky', op: count, from: ['in'], key: throwingKey },
        { name: 'broken', op: noStart, from: ['in'], key: user },
        { name: 'all', op: count, from: ['in'], key: user },
      ]),
    );
    await engine.ingest('in', [{ user: 'a' }, { user: 'a', weird: true }, { user: 'b' }]);
    await engine.flush();
    expect(engine.stats().retries).toBe(0);
    expect(engine.view('picky', 'a')).toBe(1);
    expect(engine.view('all', 'a')).toBe(2);
    const letters = await engine.deadLetters.list();
    expect(letters.filter((l) => l.stage === 'reducer:picky').map((l) => l.reason)).toEqual(['picky: key or map failed: no key here']);
    expect(letters.filter((l) => l.stage === 'reducer:broken').map((l) => l.reason)).toEqual(Array(3).fill('broken (no_start): init failed: cannot start'));
  });

  it('rejects invalid events with their index and reason and keeps them as dead letters', async () => {
    const engine = new Engine(pipelineOf([{ name: 'n', op: count, from: ['in'], key: user }]));
    const r = await engine.ingest('in', [{ user: 'a' }, 42, { user: 'b' }]);
    expect(r.accepted).toBe(2);
    expect(r.rejected).toEqual([{ index: 1, reason: 'not an object' }]);
    expect(await engine.deadLetters.count()).toBe(1);
    await expect(engine.ingest('nope', [{}])).rejects.toThrow(/unknown source 'nope'/);
  });

  it('applies backpressure: ingest waits while the queue is full, memory stays bounded', async () => {
    const store = new SlowStore(new MemoryStateStore(), 5);
    const engine = new Engine(pipelineOf([{ name: 'n', op: count, from: ['in'], key: user }]), { store, batchSize: 10, queueLimit: 50 });
    let maxDepth = 0;
    engine.on('batch', () => (maxDepth = Math.max(maxDepth, engine.stats().queueDepth)));
    for (let i = 0; i < 40; i++) {
      await engine.ingest('in', Array.from({ length: 10 }, () => ({ user: 'a' })));
      maxDepth = Math.max(maxDepth, engine.stats().queueDepth);
    }
    await engine.flush();
    expect(engine.view('n', 'a')).toBe(400);
    expect(maxDepth).toBeLessThanOrEqual(60); // the limit plus one ingest call
  });

  it('resumes from the committed offset after a restart: nothing lost, nothing counted twice', async () => {
    const store = new MemoryStateStore();
    const log = new MemoryInputLog();
    const p = pipelineOf([{ name: 'n', op: count, from: ['in'], key: user }]);
    const first = new Engine(p, { store, log });
    await first.ingest('in', Array.from({ length: 30 }, () => ({ user: 'a' })));
    await first.flush();
    // Events appended to the log but not yet processed when the first engine "dies".
    await log.append(Array.from({ length: 12 }, () => ({ stream: 'in', event: { user: 'a' }, at: 0 })));
    const second = new Engine(p, { store, log });
    await second.start();
    await second.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(second.view('n', 'a')).toBe(42);
    expect(await store.offset('test')).toBe(42);
  });

  it('retries a batch when the store is down and catches up by itself when it returns', async () => {
    const inner = new MemoryStateStore();
    let down = true;
    const flaky: StateStore = {
      kind: 'flaky',
      load: (r) => (down ? Promise.reject(Object.assign(new Error('store down'), { code: 'UNAVAILABLE' })) : inner.load(r)),
      commit: (c) => inner.commit(c),
      offset: (p) => inner.offset(p),
      scan: (p, r) => inner.scan(p, r),
      drop: (p, r) => inner.drop(p, r),
      close: async () => {},
    };
    const engine = new Engine(pipelineOf([{ name: 'n', op: count, from: ['in'], key: user }]), { store: flaky, retryMs: 5 });
    await engine.ingest('in', [{ user: 'a' }, { user: 'a' }]);
    await new Promise((r) => setTimeout(r, 30));
    expect(engine.health().ok).toBe(false);
    expect(engine.stats().retries).toBeGreaterThan(0);
    down = false;
    await engine.flush();
    expect(engine.view('n', 'a')).toBe(2);
    expect(engine.health().ok).toBe(true);
  });
});
