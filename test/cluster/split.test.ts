// A network split between one worker and Redis (docs/scale-out.md §9 F5, §11 T7): worker A reaches a
// single redis-server only through a TCP proxy in this test; worker B connects directly. Cutting the proxy
// (open connections reset, new ones refused) while events arrive: A cannot renew, so it stops work on each of
// its partitions by its own clock (EXPIRED), and B takes them over once their leases run out. On heal, A's
// late writes are refused (FENCED / LOST) or it simply rejoins; either way nothing is applied twice or lost:
// every appended event applied once and the states equal one uninterrupted process.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../../bench/servers.js';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { assign } from '../../engine/cluster/assignment.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, holdings, leases, oracle, partitionedDemo, partitionedStates, signal, startWorker, until, type WorkerChild } from './worker-fixture.js';

const P = 4;
const EVENTS = 3000;

/**
 * A TCP proxy to `port` that can be cut and healed. `reset`: open connections are reset, new ones refused.
 * `blackhole`: connections stay open but nothing passes (held in order) until heal, like a partition TCP
 * outlives: what a worker sent during the cut arrives late.
 */
async function cuttableProxy(port: number): Promise<{ port: number; cut(mode: 'reset' | 'blackhole'): void; heal(): void; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const flushes = new Set<() => void>();
  let mode: 'reset' | 'blackhole' | null = null;
  const server = createServer((client) => {
    if (mode === 'reset') return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    const forward = (from: Socket, to: Socket) => {
      const held: Buffer[] = [];
      from.on('data', (d: Buffer) => (mode === 'blackhole' ? held.push(d) : to.write(d)));
      flushes.add(() => {
        for (const d of held.splice(0)) to.write(d);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined); // a reset is the point
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    cut(m) {
      mode = m;
      if (m === 'reset') for (const s of open) s.destroy();
    },
    heal() {
      mode = null;
      for (const f of flushes) f();
    },
    close: () => {
      for (const s of open) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('network split between a worker and Redis', () => {
  it.each(['reset', 'blackhole'] as const)('%s: the cut worker stops by its own clock before the other takes over, and after heal nothing is applied twice', async (mode) => {
    const redis = await startRedis();
    const proxy = await cuttableProxy(redis.port);
    const name = `sp${Date.now().toString(36)}`;
    const { file, pipeline, single } = await partitionedDemo(name, P);
    const data = mkdtempSync(join(tmpdir(), 'loflow-split-'));
    const store = await RedisStateStore.connect(redis.url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const events = classroomEvents(EVENTS, 41, 40);
    const workers: WorkerChild[] = [];
    const append = async (from: number, to: number, pauseMs = 0) => {
      for (let i = from; i < to; i += 100) {
        await appender.append('extension', events.slice(i, Math.min(to, i + 100)), { id: 'split', seq: i });
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
    };
    const committed = async () => (await leases(store, name, P)).reduce((n, l) => n + l.committed, 0);
    try {
      // Retry the join until A wins at least one partition (ids are random).
      let cutW: WorkerChild | undefined;
      let other: WorkerChild | undefined;
      for (let attempt = 0; attempt < 5; attempt++) {
        const a = await startWorker(file, `redis://127.0.0.1:${proxy.port}`, data);
        workers.push(a);
        const b = await startWorker(file, redis.url, data);
        workers.push(b); // all killed at the end, also those let go here
        if (assign([a.id, b.id], P).includes(a.id) && assign([a.id, b.id], P).includes(b.id)) {
          [cutW, other] = [a, b];
          break;
        }
        await Promise.all([signal(a, 'SIGTERM'), signal(b, 'SIGTERM')]);
      }
      const a = cutW!;
      const b = other!;
      const mine = assign([a.id, b.id], P).flatMap((o, n) => (o === a.id ? [n] : []));
      await append(0, 1000);
      await until('1,000 committed, A holding its share', async () => (await committed()) === 1000 && (await holdings(a)).join() === mine.join());

      // Events keep arriving (directly to Redis) while A is cut off; cut while A has a batch to do.
      const feeding = append(1000, EVENTS, 60);
      await until('A busy on a backlog', async () => {
        const h = (await (await fetch(`${a.url}/healthz`)).json()) as { partitions: Array<{ committed: number; log_end: number }> };
        return h.partitions.some((p) => p.log_end > p.committed);
      }, 30_000, 5);
      proxy.cut(mode);
      const t0 = Date.now();
      // Watched side by side: when A says it stopped (its log), when its /healthz lists nothing, when B holds all.
      const at = { said: 0, empty: 0, taken: 0 };
      const stoppedAll = () => mine.every((n) => new RegExp(`p${n} EXPIRED: stopped work on it`).test(a.out()));
      await until('A stopped work and B holds every partition', async () => {
        if (!at.said && stoppedAll()) at.said = Date.now() - t0;
        if (!at.empty && (await holdings(a)).length === 0) at.empty = Date.now() - t0;
        if (!at.taken && (await leases(store, name, P)).every((l) => l.owner === b.id)) at.taken = Date.now() - t0;
        return at.said > 0 && at.empty > 0 && at.taken > 0;
      }, 30_000, 25);
      for (const n of mine) expect(a.out()).toMatch(new RegExp(`p${n} EXPIRED: stopped work on it`));
      // Generous for a loaded machine: the lease (3 s) + ticks; the bench measures takeovers.
      expect(at.taken).toBeLessThan(20_000);
      // F5: A's own clock closes its window before the successor starts (margin: the lease's 500 ms + a tick).
      expect(at.said).toBeLessThan(at.taken);
      expect(at.empty).toBeLessThan(at.taken); // and says so at once, not after its in-flight commands time out

      // Heal before A's Redis commands time out (10 s): in blackhole mode what A sent during the cut arrives now.
      await new Promise((r) => setTimeout(r, 500));
      proxy.heal();
      await feeding;
      await until(`all ${EVENTS} committed`, async () => (await committed()) === EVENTS, 60_000, 200);
      await until('A back on its share after the heal', async () => (await holdings(a)).join() === mine.join(), 30_000, 200);
      const l = await leases(store, name, P);
      expect(l.map((x) => x.committed)).toEqual(l.map((x) => x.end));
      expect(await partitionedStates(store, name, P)).toEqual(await oracle(single, events));
      for (const w of [a, b]) expect(w.out()).not.toMatch(/CONFLICT/);
      const fenced = Number(/loflow_commits_total\{result="fenced"\} (\d+)/.exec(await (await fetch(`${a.url}/metrics`)).text())?.[1] ?? 0);
      console.log(`split (${mode}): A (${mine.length}/${P} partitions) said it stopped work ${at.said} ms after the cut, its /healthz empty at ${at.empty} ms, B held all at ${at.taken} ms; A's fenced commits after heal: ${fenced}; A's log: ${a.out().split('\n').filter((x) => /EXPIRED|LOST|FENCED/.test(x)).join(' | ')}`);
    } finally {
      for (const w of workers) await signal(w, 'SIGKILL');
      await appender.close();
      await store.close();
      await proxy.close();
      await redis.stop();
    }
  }, 120_000);
});
