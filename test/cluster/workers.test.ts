// Workers share a partitioned pipeline (docs/scale-out.md §5.1, §11 T2/T4): real `loflow serve --role worker`
// children on the 3-node Redis Cluster. Each partition is held by exactly one worker and the holders follow
// the rendezvous table; a worker joining takes only the partitions it now wins, one leaving (SIGTERM) gives
// up only its own, one SIGKILLed is taken over once its lease runs out; the final states equal an
// uninterrupted single-process run (nothing lost, nothing applied twice).
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { assign } from '../../engine/cluster/assignment.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { run } from '../cli/run-cli.js';
import { classroomEvents, holdings, leases, oracle, partitionedDemo, partitionedStates, signal, startWorker, until, type WorkerChild } from './worker-fixture.js';

const P = 8;
const EVENTS = 6000;

describe('workers (serve --role worker) on a 3-node Redis Cluster', () => {
  it('hold each partition once, rebalance sticky on join/leave, take over a SIGKILLed one, and equal a single-process run', async () => {
    const name = `wk${Date.now().toString(36)}`;
    const { file, pipeline, single } = await partitionedDemo(name, P);
    const url = inject('redisClusterUrl');
    const data = mkdtempSync(join(tmpdir(), 'loflow-workers-data-'));
    const store = await RedisStateStore.connect(url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const events = classroomEvents(EVENTS, 21);
    const workers: WorkerChild[] = [];
    const append = async (from: number, to: number) => {
      for (let i = from; i < to; i += 250) await appender.append('extension', events.slice(i, Math.min(to, i + 250)), { id: 'test', seq: i });
    };
    const committed = async () => (await leases(store, name, P)).reduce((n, l) => n + l.committed, 0);
    /** The lease holders equal the rendezvous table of these workers, and each says it holds exactly its rows. */
    const settled = async (ws: WorkerChild[]) => {
      const table = assign(ws.map((w) => w.id), P);
      const owners = (await leases(store, name, P)).map((l) => l.owner);
      if (owners.some((o, n) => o !== table[n])) return false;
      const held = await Promise.all(ws.map(holdings));
      return ws.every((w, i) => held[i].join() === table.flatMap((o, n) => (o === w.id ? [n] : [])).join());
    };
    try {
      workers.push(await startWorker(file, url, data), await startWorker(file, url, data));
      await append(0, 2000);
      await until('2 workers settled, 2,000 committed', async () => (await settled(workers)) && (await committed()) === 2000);
      const two = assign(workers.map((w) => w.id), P);
      expect(new Set(two).size).toBe(2); // both got partitions
      // cluster status names the live workers and what each holds.
      const status = await run('cluster', 'status', file, '--state', url, '--json');
      const { workers: listed } = JSON.parse(status.stdout) as { workers: Array<{ id: string; live: boolean; holds: number }> };
      expect(listed.filter((w) => w.live).map((w) => [w.id, w.holds]).sort()).toEqual(workers.map((w) => [w.id, two.filter((o) => o === w.id).length]).sort());
      expect((await run('cluster', 'status', file, '--state', url)).stdout).toMatch(/^workers {2}2 live: /m);

      // A third joins: only the rows it now wins move, each to it.
      // Ids are random: a joiner can win no row of the table (about 4% of draws with P = 8); then it leaves and
      // another joins, so that the test sees rows move.
      let three: string[] = two;
      let moved: number[] = [];
      for (let attempt = 0; attempt < 5 && moved.length === 0; attempt++) {
        const joiner = await startWorker(file, url, data);
        three = assign([...workers, joiner].map((w) => w.id), P);
        moved = three.flatMap((o, n) => (o !== two[n] ? [n] : []));
        if (moved.length === 0) await signal(joiner, 'SIGTERM');
        else workers.push(joiner);
      }
      await until('3 workers settled', () => settled(workers));
      expect(moved.length).toBeGreaterThan(0);
      for (const n of moved) expect(three[n]).toBe(workers[2].id);
      const epochsBefore = (await leases(store, name, P)).map((l) => l.epoch);
      await append(2000, 4000);
      await until('4,000 committed', async () => (await committed()) === 4000);

      // The first leaves gracefully: its partitions go to the runners-up, nothing else changes hands.
      const [leaving] = workers.splice(0, 1);
      await signal(leaving, 'SIGTERM');
      expect(leaving.out()).toMatch(/released \(shutdown/);
      await until('2 workers settled after a leave', () => settled(workers));
      const after = (await leases(store, name, P)).map((l) => l.epoch);
      for (let n = 0; n < P; n++) if (three[n] !== leaving.id) expect(after[n]).toBe(epochsBefore[n]); // sticky: untouched

      // SIGKILL one while events arrive: the survivor takes its partitions once their leases run out.
      const [victim, survivor] = workers;
      const victims = assign([victim.id, survivor.id], P).flatMap((o, n) => (o === victim.id ? [n] : []));
      const feeding = append(4000, EVENTS);
      const t0 = Date.now();
      await signal(victim, 'SIGKILL');
      await until('the survivor holds every partition', async () => (await leases(store, name, P)).every((l) => l.owner === survivor.id));
      const takeoverMs = Date.now() - t0;
      await feeding;
      await until(`${EVENTS} committed`, async () => (await committed()) === EVENTS);
      // Generous: the lease (3 s) plus a tick plus a loaded machine. The bench measures it.
      expect(takeoverMs).toBeLessThan(20_000);
      const l = await leases(store, name, P);
      expect(l.map((x) => x.end)).toEqual(l.map((x) => x.committed)); // each partition's log fully applied

      expect(await partitionedStates(store, name, P)).toEqual(await oracle(single, events));
      const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
      expect(metrics).toMatch(/loflow_rebalances_total\{event="acquired"\} [1-9]/);
      expect(metrics).toMatch(/loflow_takeover_seconds_count [1-9]/);
      // Caught up: every partition the survivor holds reports no lag in seconds.
      const lagSeconds = metrics.match(/^loflow_partition_lag_seconds\{partition="\d+"\} \S+$/gm) ?? [];
      expect(lagSeconds.length).toBeGreaterThan(0);
      for (const line of lagSeconds) expect(line).toMatch(/ 0$/);
      console.log(`workers: ${moved.length}/${P} partitions moved to the joining worker; SIGKILL of a worker holding ${victims.length} partitions taken over in ${takeoverMs} ms`);
    } finally {
      for (const w of workers) await signal(w, 'SIGKILL');
      await appender.close();
      await store.close();
    }
  }, 120_000);
});
