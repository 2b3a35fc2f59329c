// How the engine shares one event loop with thousands of sockets: ingests that arrive in one turn form one
// batch, ingests waiting for room are admitted in order and within the queue limit, and a long backlog is
// processed in slices so timers (dashboard ticks) and sockets keep running.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/runtime.js';
import { MemoryInputLog } from '../../engine/log/memory-log.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import type { Commit, StateStore } from '../../engine/types.js';
import { count } from '../../operators/count.js';
import { pathKey, pipelineOf } from './pipeline-fixture.js';

const user = pathKey('user', '$.user');
const pipeline = () => pipelineOf([{ name: 'n', op: count, from: ['in'], key: user }]);

/** The memory store, each commit answered after `ms`: a backlog builds while ingests keep coming. */
function slowStore(ms: number): StateStore {
  const inner = new MemoryStateStore();
  return Object.assign(Object.create(inner) as StateStore, {
    kind: 'slow-memory',
    commit: async (c: Commit) => {
      await new Promise((r) => setTimeout(r, ms));
      return inner.commit(c);
    },
  });
}

describe('scheduling', () => {
  it('one batch takes what many sockets ingested in the same turn', async () => {
    const engine = new Engine(pipeline());
    await engine.start();
    const batches: number[] = [];
    engine.on('batch', (b: { events: number }) => batches.push(b.events));
    // 500 connections, one event each, each in its own callback of one turn of the event loop (as socket
    // reads are: microtasks run between them).
    await Promise.all(Array.from({ length: 500 }, (_, i) => new Promise((done) => setImmediate(() => done(engine.ingest('in', [{ user: `u${i % 20}` }]))))));
    await engine.flush();
    expect(batches.reduce((a, b) => a + b, 0)).toBe(500);
    // Batched per turn, not one batch per connection.
    expect(batches.length).toBeLessThanOrEqual(5);
    expect(engine.view('n', 'u3')).toBe(25);
    await engine.stop();
  });

  it('ingests waiting for room are admitted in arrival order and the backlog stays within its limit', async () => {
    const engine = new Engine(pipeline(), { store: slowStore(5), batchSize: 20, queueLimit: 50 });
    let maxDepth = 0;
    const depth = () => (maxDepth = Math.max(maxDepth, engine.stats().queueDepth));
    engine.on('batch', depth);
    // 300 connections at once, 5 events each: far more than the 50 the backlog may hold.
    const results = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const r = await engine.ingest('in', Array.from({ length: 5 }, () => ({ user: `u${i % 7}` })));
        depth();
        return r.firstOffset;
      }),
    );
    await engine.flush();
    expect(engine.stats().committedOffset).toBe(1500);
    // Within the limit plus one call's events: every waiter woken at once used to pass the same check.
    expect(maxDepth).toBeLessThanOrEqual(55);
    // First come, first served: each connection's events were appended in the order the calls arrived.
    for (let i = 1; i < results.length; i++) expect(results[i]).toBeGreaterThan(results[i - 1]);
    await engine.stop();
  });

  it('a waiting ingest that times out leaves the queue, and the next one still gets in', async () => {
    const engine = new Engine(pipeline(), { store: slowStore(300), batchSize: 10, queueLimit: 10 });
    await engine.ingest('in', Array.from({ length: 10 }, () => ({ user: 'a' }))); // the backlog is full
    await expect(engine.ingest('in', [{ user: 'a' }], Date.now(), undefined, { maxWaitMs: 20 })).rejects.toMatchObject({ code: 'BACKLOG_FULL' });
    // Not waiting any more, though still in the queue until the next wake: sockets need not pause for it.
    expect(engine.ingestWaiting).toBe(0);
    // Waits behind nobody: the timed-out one is skipped once the first batch commits.
    const r = await engine.ingest('in', [{ user: 'b' }]);
    expect(r.accepted).toBe(1);
    await engine.flush();
    expect(engine.view('n', 'a')).toBe(10);
    expect(engine.view('n', 'b')).toBe(1);
    expect(engine.ingestWaiting).toBe(0);
    await engine.stop();
  });

  it('a long backlog is processed in slices: timers run while it drains', async () => {
    const log = new MemoryInputLog();
    const events = 150_000;
    for (let i = 0; i < events; i += 10_000) await log.append(Array.from({ length: 10_000 }, (_, j) => ({ stream: 'in', event: { user: `u${(i + j) % 100}` }, at: 0 })));
    const engine = new Engine(pipeline(), { log });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let ticksAtEnd = -1;
    try {
      await engine.start();
      await engine.flush();
      ticksAtEnd = ticks;
    } finally {
      clearInterval(timer);
    }
    expect(engine.view('n', 'u0')).toBe(events / 100);
    // An in-memory log and store answer at once: the whole backlog used to run in one stretch of
    // microtasks, and no timer fired until it was done.
    expect(ticksAtEnd).toBeGreaterThan(0);
    await engine.stop();
  });
});
