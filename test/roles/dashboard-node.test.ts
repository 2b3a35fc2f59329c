// Dashboards across nodes (issue #12 point 5, docs/scale-out.md §7, §11 T9). A `--role dashboard` node
// reads the states workers commit and the chg streams commit.lua appends; its snapshot and the table its
// deltas build equal those of the `--role all` process that processed the events, under the same teacher
// access rules. And on a 3-node Redis Cluster with P = 4: one dashboard node shows the students of every
// partition, equal to the engine that processed them.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../bench/servers.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { MemoryDeadLetterStore } from '../../engine/deadletter/memory-deadletter.js';
import { partitionOf } from '../../engine/partition.js';
import { Engine } from '../../engine/runtime.js';
import { DashboardNode } from '../../engine/server/roles/dashboard-node.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, demoCopy, uniqueName } from '../cli/cluster-fixture.js';
import { serveChild, until, type ServeChild } from '../hardening/serve-child.js';
import { post } from './role-fixture.js';

type Table = { rows: Map<string, string>; summary: string };

/** An SSE subscription's table: its snapshot with every delta applied since. */
function follow(url: string): { table: () => Table | null; messages: () => number; close(): void } {
  const ac = new AbortController();
  let table: Table | null = null;
  let count = 0;
  void (async () => {
    const r = await fetch(url, { signal: ac.signal });
    const reader = r.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!line.startsWith('data: ')) continue;
        const m = JSON.parse(line.slice(6));
        count++;
        if (m.type === 'snapshot') table = { rows: new Map(m.rows.map((x: any) => [x.member, JSON.stringify(x)])), summary: JSON.stringify(m.summary) };
        else if (m.type === 'delta' && table) {
          for (const x of m.rows) table.rows.set(x.member, JSON.stringify(x));
          table.summary = JSON.stringify(m.summary);
        }
      }
    }
  })().catch(() => {});
  return { table: () => table, messages: () => count, close: () => ac.abort() };
}

const plain = (t: Table | null) => t && { rows: Object.fromEntries([...t.rows].sort()), summary: t.summary };
const getJson = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as any };
};
const caughtUp = (s: ServeChild, n: number) =>
  until(async () => {
    const h = (await (await fetch(`${s.url}/healthz`)).json()) as { committed_offset: number; log_end: number };
    return h.committed_offset === n && h.log_end === n;
  }, 60_000);

describe('serve --role dashboard', () => {
  let redis: RunningRedis;
  const children: ServeChild[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await redis?.stop();
  });

  it("T9: snapshot and deltas equal the processing process's, with the same access checks", async () => {
    const name = uniqueName('dash');
    const file = demoCopy(name);
    const demo = ['--demo', '--demo-tokens'];
    const worker = await serveChild(['--state', redis.url, '--checkpoint', 'redis', '--durability', 'none', ...demo], {}, file);
    children.push(worker);
    const dash = await serveChild(['--role', 'dashboard', '--state', redis.url, ...demo], {}, file);
    children.push(dash);
    const events = classroomEvents(1200, 11);
    expect((await post(worker.url, JSON.stringify(events.slice(0, 400)))).status).toBe(200);
    await caughtUp(worker, 400);

    const path = `/v1/dashboards/overview/class-a`;
    // Same access answers: no token, another teacher's class, an unknown class.
    for (const q of ['', '?token=demo-t-bo', '?token=nope']) {
      const [a, b] = await Promise.all([getJson(`${worker.url}${path}${q}`), getJson(`${dash.url}${path}${q}`)]);
      expect(b).toEqual(a);
      expect(b.status).toBeGreaterThanOrEqual(401);
    }
    const [a, b] = await Promise.all([getJson(`${worker.url}${path}?token=demo-t-ada`), getJson(`${dash.url}${path}?token=demo-t-ada`)]);
    expect(a.status).toBe(200);
    expect(a.body.rows.length).toBeGreaterThan(0);
    expect(b).toEqual(a);
    // A class with no events yet on both: loaded on first ask, then updated by deltas.
    const live = ['class-a', 'class-b'].flatMap((g) => [worker, dash].map((s) => follow(`${s.url}/v1/dashboards/overview/${g}/events?token=demo-t-ada`)));
    try {
      await until(() => live.every((l) => l.table() !== null), 30_000);
      for (let i = 400; i < 1200; i += 200) {
        expect((await post(worker.url, JSON.stringify(events.slice(i, i + 200)))).status).toBe(200);
        await new Promise((r) => setTimeout(r, 300)); // several commits, several pushes (min_interval 500ms)
      }
      await caughtUp(worker, 1200);
      // Deltas settle to equal tables on both nodes, equal to a fresh snapshot of the processing process.
      for (const [w, d, g] of [[live[0], live[1], 'class-a'], [live[2], live[3], 'class-b']] as const) {
        const want = (await getJson(`${worker.url}/v1/dashboards/overview/${g}?token=demo-t-ada`)).body;
        const wantTable = plain({ rows: new Map(want.rows.map((x: any) => [x.member, JSON.stringify(x)])), summary: JSON.stringify(want.summary) });
        await until(() => JSON.stringify(plain(w.table())) === JSON.stringify(wantTable), 30_000);
        await until(() => JSON.stringify(plain(d.table())) === JSON.stringify(wantTable), 30_000);
        expect(d.messages()).toBeGreaterThan(1); // a snapshot, then deltas
      }
      expect((await getJson(`${dash.url}${path}?token=demo-t-ada`)).body).toEqual((await getJson(`${worker.url}${path}?token=demo-t-ada`)).body);
    } finally {
      for (const l of live) l.close();
    }
  }, 240_000);

  it('on a 3-node Redis Cluster with P = 4: one dashboard node shows the students of every partition', async () => {
    const url = inject('redisClusterUrl');
    const name = uniqueName('dashp');
    const { pipeline } = await compilePipelineFile(demoCopy(name, 4));
    const store = await RedisStateStore.connect(url);
    const engine = new Engine(pipeline!, { store });
    const readStore = await RedisStateStore.connect(url);
    let node: DashboardNode | undefined;
    try {
      const events = classroomEvents(800, 13);
      await engine.ingest('batch', events.slice(0, 300));
      await engine.flush();
      node = await DashboardNode.open(pipeline!, readStore, new MemoryDeadLetterStore());
      const rowsOf = (r: { rows: Array<{ member: string }> }) => JSON.stringify(r);
      for (const g of ['class-a', 'class-b']) {
        await node.ensureLoaded('class_overview', g);
        expect(rowsOf(node.aggregate('class_overview', g))).toBe(rowsOf(engine.aggregate('class_overview', g)));
      }
      const members = node.aggregate('class_overview', 'class-a').rows.map((r) => r.member);
      const partitions = new Set(members.map((m) => partitionOf(m, 4)));
      expect(partitions.size).toBeGreaterThan(1);
      let batches = 0;
      node.on('batch', () => batches++);
      await engine.ingest('batch', events.slice(300));
      await engine.flush();
      for (const g of ['class-a', 'class-b']) await until(() => rowsOf(node!.aggregate('class_overview', g)) === rowsOf(engine.aggregate('class_overview', g)), 30_000);
      expect(batches).toBeGreaterThan(0);
      expect(node.clock()).toBe(engine.clock());
    } finally {
      await node?.stop();
      await readStore.close();
      await engine.stop();
    }
  }, 120_000);
});
