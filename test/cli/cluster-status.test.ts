// `loflow cluster status` (docs/scale-out.md §14 step 5) against real Redis: a throwaway redis-server and the
// run's 3-node cluster. After a `serve --checkpoint redis` run it must show the live server as owner (epoch,
// time left), the committed offset, the log end and zero lag, on the node that really holds the slot; after
// the server stops, the lease as released; a holder that died without releasing as EXPIRED. A P = 4 engine
// on the cluster (the CLI refuses a partitioned Redis store yet) shows each partition on its own node with
// its own committed offset.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { compilePipelineFile } from '../../engine/compiler.js';
import { partitionOf } from '../../engine/partition.js';
import { Engine } from '../../engine/runtime.js';
import { curKey } from '../../engine/state/key-layout.js';
import { Lease } from '../../engine/state/lease.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { freePort, startRedis, type RunningRedis } from '../../bench/servers.js';
import { serveChild } from '../hardening/serve-child.js';
import { classroomEvents, demoCopy, feedAndDrain, uniqueName } from './cluster-fixture.js';
import { run } from './run-cli.js';

let single: RunningRedis;
beforeAll(async () => {
  single = await startRedis();
});
afterAll(async () => {
  await single?.stop();
});

async function status(file: string, url: string, ...more: string[]) {
  const r = await run('cluster', 'status', file, '--state', url, '--json', ...more);
  if (r.code !== 0) throw new Error(`cluster status exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

/** The key really lives on that node: a plain connection to it finds it (no MOVED). */
async function holds(node: string, key: string): Promise<boolean> {
  const [host, port] = node.split(':');
  const c = new Redis({ host, port: Number(port) });
  try {
    return (await c.exists(key)) === 1;
  } finally {
    c.disconnect();
  }
}

for (const [label, urlOf] of [
  ['a single redis-server', () => single.url],
  ['a 3-node Redis Cluster', () => inject('redisClusterUrl')],
] as const) {
  describe(`cluster status on ${label}`, () => {
    it('shows the live server as owner, the committed offset and log end after serve --checkpoint redis, then released, then a dead holder as expired', async () => {
      const name = uniqueName('cs');
      const file = demoCopy(name);
      const events = classroomEvents(300);
      const s = await serveChild(['--state', urlOf(), '--checkpoint', 'redis', '--durability', 'none'], {}, file);
      try {
        await feedAndDrain(s, events);
        const live = await status(file, urlOf());
        expect(live).toMatchObject({ pipeline: name, partitions: 1, by: 'student', layout: 2, durability: 'none', kind: urlOf().startsWith('redis-cluster') ? 'redis-cluster' : 'redis' });
        expect(live.rows).toHaveLength(1);
        const row = live.rows[0];
        expect(row).toMatchObject({ partition: 0, tag: name, lease: 'held', epoch: 1, committed: 300, logEnd: 300, lag: 0, outbox: 0 });
        expect(row.owner).toMatch(/^.+-\d+-[0-9a-f]{6}$/); // <host>-<pid>-<random>: the serve process
        expect(row.owner).not.toContain(`-${process.pid}-`);
        expect(row.leaseLeftMs).toBeGreaterThan(0);
        expect(row.lastCommitAgeMs).toBeGreaterThanOrEqual(0);
        expect(row.lastCommitAgeMs).toBeLessThan(60_000);
        expect(row.logLength).toBeGreaterThan(0);
        expect(await holds(row.node, curKey(name))).toBe(true);
        if (label.includes('Cluster')) expect(live.nodes.map((n: { address: string }) => n.address)).toContain(row.node);

        const text = await run('cluster', 'status', file, '--state', urlOf());
        expect(text.code).toBe(0);
        expect(text.stdout).toMatch(new RegExp(`^pipeline ${name}  P=1  by=student  layout=2  durability=none`, 'm'));
        expect(text.stdout).toMatch(/^p0 .* 1 +[\d.]+s left +300 +300 +0 /m);
      } finally {
        await s.stop();
      }

      const stopped = (await status(file, urlOf())).rows[0];
      expect(stopped).toMatchObject({ lease: 'released', owner: null, epoch: 1, committed: 300, lag: 0 });

      // A holder that died without releasing (no renewals any more): its lease runs out and shows as expired.
      const store = await RedisStateStore.connect(urlOf());
      try {
        const dead = new Lease(store.redis, name, 'w-dead-1', 300);
        expect((await dead.acquire()).epoch).toBe(2);
        dead.drop();
        await new Promise((r) => setTimeout(r, 500));
        const expired = (await status(file, urlOf())).rows[0];
        expect(expired).toMatchObject({ lease: 'expired', owner: 'w-dead-1', epoch: 2, committed: 300 });
        expect(expired.leaseLeftMs).toBeLessThan(0);
        const text = await run('cluster', 'status', file, '--state', urlOf());
        expect(text.stdout).toMatch(/w-dead-1 +2 +EXPIRED [\d.]+s ago/);
      } finally {
        await store.close();
      }
    }, 120_000);
  });
}

describe('cluster status of a P = 4 pipeline on a 3-node Redis Cluster', () => {
  it('shows each partition on the node holding its slot, owned by the engine, with its own committed offset; bounded by --limit', async () => {
    const url = inject('redisClusterUrl');
    const name = uniqueName('cs4');
    const file = demoCopy(name, 4);
    const { pipeline } = await compilePipelineFile(file);
    const store = await RedisStateStore.connect(url);
    const engine = new Engine(pipeline!, { store, batchSize: 100 });
    const events = classroomEvents(800, 9);
    try {
      await engine.ingest('batch', structuredClone(events));
      await engine.flush();
      const s = await status(file, url);
      expect(s).toMatchObject({ pipeline: name, partitions: 4, by: 'student', layout: 2, kind: 'redis-cluster' });
      const perPartition = [0, 1, 2, 3].map((n) => events.filter((e) => partitionOf((e as any).auth.user_id, 4) === n).length);
      expect(perPartition.every((n) => n > 0)).toBe(true);
      expect(s.rows.map((r: any) => [r.tag, r.owner, r.epoch, r.lease, r.committed, r.logEnd])).toEqual(
        [0, 1, 2, 3].map((n) => [`${name}:p${n}`, store.owner, 1, 'held', perPartition[n], null]),
      );
      const raw = new Cluster([{ host: url.split('//')[1].split(',')[0].split(':')[0], port: Number(url.split(',')[0].split(':').pop()) }]);
      try {
        for (const r of s.rows) {
          expect(await holds(r.node, curKey(r.tag))).toBe(true);
          expect(r.slot).toBe(Number(await raw.cluster('KEYSLOT', curKey(r.tag))));
        }
      } finally {
        raw.disconnect();
      }
      expect(s.nodes.reduce((n: number, x: { partitions: number }) => n + x.partitions, 0)).toBe(4);

      const text = await run('cluster', 'status', file, '--state', url, '--limit', '2');
      expect(text.code).toBe(0);
      expect(text.stdout.split('\n').filter((l) => /^p\d /.test(l))).toHaveLength(2);
      expect(text.stdout).toMatch(/^… 2 more partitions \(lag 0 events in all; --limit 4 shows every one\)$/m);
    } finally {
      await engine.stop();
    }
    const after = await status(file, url);
    expect(after.rows.map((r: any) => r.lease)).toEqual(['released', 'released', 'released', 'released']);
  }, 120_000);

  it('refuses a state store that is not Redis, and an unreachable one, with a clear message', async () => {
    const file = demoCopy(uniqueName('csx'));
    const memory = await run('cluster', 'status', file, '--state', 'memory');
    expect(memory.code).toBe(2);
    expect(memory.stderr).toMatch(/reads a Redis state store/);
    const nobody = await freePort(); // nothing listens there
    const down = await run('cluster', 'status', file, '--state', `redis://127.0.0.1:${nobody}`);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach redis://127.0.0.1:${nobody}`);
  }, 60_000);
});
