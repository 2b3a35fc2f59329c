// The chaos test, smaller (docs/scale-out.md §9 F1-F3, §11 T2/T3): 3 workers (`serve --role worker`)
// on the 3-node Redis Cluster while 20,000 events arrive; a worker is SIGSTOPped past its lease (its
// partitions are taken over; on SIGCONT its batch in flight is refused, FENCED, in its log and metrics),
// workers are SIGKILLed at seeded moments and replaced, a fourth joins and leaves. The final states equal an
// uninterrupted single-process run: nothing lost, nothing applied twice. The full version (200,000 events,
// 10 kills, ingest nodes, re-keying cascades) needs the ingest role and exchange edges: not built.
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from '../../engine/classroom.js';
import { PartitionAppender } from '../../engine/cluster/appender.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, holdings, leases, oracle, partitionedDemo, partitionedStates, signal, startWorker, until, type WorkerChild } from './worker-fixture.js';

const P = 8;
const EVENTS = Number(process.env.LOFLOW_CHAOS_EVENTS) || 20_000;
const KILLS = Number(process.env.LOFLOW_CHAOS_KILLS) || 3;
const SLICE = 200;

describe('chaos: workers killed, paused, added and removed while events arrive', () => {
  it(`${EVENTS} events, ${KILLS} SIGKILLs, 1 SIGSTOP past the lease (fenced), a worker added and removed: equal to a single-process run`, async () => {
    const name = `wc${Date.now().toString(36)}`;
    const { file, pipeline, single } = await partitionedDemo(name, P);
    const url = inject('redisClusterUrl');
    const data = mkdtempSync(join(tmpdir(), 'loflow-chaos-data-'));
    const store = await RedisStateStore.connect(url);
    const appender = await PartitionAppender.open(store.redis, pipeline);
    const events = classroomEvents(EVENTS, 33, 80);
    const random = rng(7);
    const live: WorkerChild[] = [];
    const all: WorkerChild[] = [];
    const start = async () => {
      const w = await startWorker(file, url, data);
      live.push(w);
      all.push(w);
      return w;
    };
    let fed = 0;
    let feeding = true;
    /** The last events wait for the chaos to end, so every action happens while events still arrive. */
    let chaosDone = false;
    /** The next `n` events at once (a backlog the workers are busy with for a while). */
    const burst = async (n: number) => {
      for (const end = Math.min(EVENTS, fed + n); fed < end; fed += SLICE * 5) await appender.append('extension', events.slice(fed, Math.min(end, fed + SLICE * 5)), { id: 'chaos', seq: fed });
      fed = Math.min(fed, EVENTS);
    };
    // Paced so the chaos below happens while events arrive.
    const paced = async () => {
      for (; fed < EVENTS; fed += SLICE) {
        while (fed >= EVENTS - 3000 && !chaosDone) await new Promise((r) => setTimeout(r, 100));
        await appender.append('extension', events.slice(fed, fed + SLICE), { id: 'chaos', seq: fed });
        await new Promise((r) => setTimeout(r, 120));
      }
      feeding = false;
    };
    let feeder: Promise<void> = Promise.resolve();
    const committed = async () => (await leases(store, name, P)).reduce((n, l) => n + l.committed, 0);
    const log: string[] = [];
    try {
      await Promise.all([start(), start(), start()]);
      await burst(2000);

      // SIGSTOP a worker in the middle of a batch (a backlog just arrived and it started on it) for longer than
      // its lease; on SIGCONT its batch in flight ends with a commit that the successor's token refuses. A pause
      // can still land between two batches (nothing in flight to refuse): then again, up to 3 times.
      let zombie: WorkerChild | undefined;
      for (let attempt = 0; attempt < 3 && !/FENCED: fenced/.test(zombie?.out() ?? ''); attempt++) {
        const held = await Promise.all(live.map(holdings));
        zombie = live[held.findIndex((h) => h.length > 0)];
        const mine = (await holdings(zombie)).length;
        await burst(3000);
        await until('the worker started on the backlog', async () => {
          const h = (await (await fetch(`${zombie!.url}/healthz`)).json()) as { partitions: Array<{ committed: number; log_end: number }> };
          return h.partitions.some((p) => p.log_end > p.committed);
        }, 10_000, 5);
        zombie.child.kill('SIGSTOP');
        await until('the paused worker\'s partitions taken over', async () => (await leases(store, name, P)).every((l) => l.owner !== null && l.owner !== zombie!.id), 30_000);
        zombie.child.kill('SIGCONT');
        await until('the resumed worker stopped work on its partitions', () => /EXPIRED|LOST|FENCED/.test(zombie!.out()), 30_000);
        await new Promise((r) => setTimeout(r, 1000));
        log.push(`SIGSTOP of a worker holding ${mine} partitions (attempt ${attempt + 1})`);
      }
      expect(zombie!.out()).toMatch(/FENCED: fenced: the lease of \{[^}]+\} is held by /);
      const zm = await (await fetch(`${zombie!.url}/metrics`)).text();
      expect(zm).toMatch(/loflow_commits_total\{result="fenced"\} [1-9]/);
      expect(zm).toMatch(/loflow_rebalances_total\{event="fenced"\} [1-9]/);

      // Seeded chaos while feeding: SIGKILL a random worker and start a replacement; add a fourth, later remove it.
      feeder = paced();
      const actions = [...Array.from({ length: KILLS }, () => 'kill'), 'add', 'remove'];
      let extra: WorkerChild | undefined;
      const replacements: Array<Promise<WorkerChild>> = [];
      for (const action of actions) {
        await new Promise((r) => setTimeout(r, 300 + random() * 1500));
        if (action === 'kill') {
          const victim = live.splice(Math.floor(random() * live.length), 1)[0];
          await signal(victim, 'SIGKILL');
          replacements.push(start()); // starts while the chaos goes on
        } else if (action === 'add') {
          extra = await start();
        } else if (extra) {
          live.splice(live.indexOf(extra), 1);
          await signal(extra, 'SIGTERM');
        }
        log.push(`${action} at ${fed} events fed`);
      }
      await Promise.all(replacements);
      chaosDone = true;
      await feeder;
      expect(feeding).toBe(false);
      await until(`all ${EVENTS} events committed`, async () => (await committed()) === EVENTS, 90_000, 250);

      const l = await leases(store, name, P);
      expect(l.map((x) => x.committed)).toEqual(l.map((x) => x.end)); // every appended entry applied, no more
      expect(l.reduce((n, x) => n + x.end, 0)).toBe(EVENTS); // each event appended once (dense ids)
      expect(await partitionedStates(store, name, P)).toEqual(await oracle(single, events));
      console.log(`chaos: ${log.join('; ')}; final epochs ${l.map((x) => x.epoch).join(',')}`);
    } finally {
      chaosDone = true;
      feeding = false;
      fed = EVENTS;
      for (const w of all) {
        if (w.alive()) w.child.kill('SIGCONT');
        await signal(w, 'SIGKILL');
      }
      await feeder.catch(() => undefined);
      await appender.close();
      await store.close();
    }
  }, 180_000);
});
