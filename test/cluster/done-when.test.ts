// Issue #12's done-when test (docs/scale-out.md §9 F1-F4, §11 T2/T3): a 3-node Redis Cluster, 3 workers,
// 2 ingest nodes and a dashboard node as child processes. An at-least-once client (4 producers, each with
// its own students, numbered batches, a failed send retried on the other ingest node with the same
// producer seq) sends the events to both ingest nodes while a worker is SIGSTOPped past its lease (its
// late commit is refused: FENCED), workers are SIGKILLed at seeded moments and replaced, and a fourth
// joins and leaves. The pipeline re-keys student → class (pipelines/examples/writing-observer.exchange.yaml:
// class-keyed reducers over raw events and over the student-keyed `bursts` reducer's events, across
// partitions through fwd/rp streams). Then: every event appended once (dense ids), every appended entry and
// every re-keyed item applied, the states equal an uninterrupted single-process run, and the teacher's dashboard served by the dashboard node
// (which processes nothing) equals that run's, with students from partitions several workers held.
// LOFLOW_DONE_WHEN_EVENTS / _KILLS scale it (the figures are the defaults).
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { partitionOf } from '../../engine/partition.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { LoEvent } from '../../engine/types.js';
import { serveChild, type ServeChild } from '../hardening/serve-child.js';
import { produceUntilAcked, type ProducerCounts } from '../roles/role-fixture.js';
import { drained, exchangeDemo, exchanged, expectEqualStates } from './exchange-fixture.js';
import { classroomEvents, holdings, leases, partitionedStates, signal, startWorker, until, type WorkerChild } from './worker-fixture.js';

const P = 8;
const EVENTS = Number(process.env.LOFLOW_DONE_WHEN_EVENTS) || 200_000;
const KILLS = Number(process.env.LOFLOW_DONE_WHEN_KILLS) || 10;
const PRODUCERS = 4;
const BATCH = 500;
/** The producers spread the events over this long at least, so the chaos happens while they arrive. */
const SEND_MS = 60_000;

describe('issue #12 done-when: workers killed, paused, added and removed behind two ingest nodes', () => {
  it(`${EVENTS} events through 2 ingest nodes, ${KILLS} SIGKILLs, 1 SIGSTOP (fenced), a 4th worker added and removed: equal to one process`, async () => {
    const name = `dw${Date.now().toString(36)}`;
    const { file, single } = await exchangeDemo(name, P); // student-keyed reducers and student → class re-keying cascades
    const url = inject('redisClusterUrl');
    const data = mkdtempSync(join(tmpdir(), 'loflow-done-when-'));
    const store = await RedisStateStore.connect(url);
    const events = classroomEvents(EVENTS, 12, 120);
    const random = rng(12);
    const live: WorkerChild[] = [];
    const all: WorkerChild[] = [];
    const nodes: ServeChild[] = [];
    const startW = async () => {
      const w = await startWorker(file, url, data);
      live.push(w);
      all.push(w);
      return w;
    };
    const none = ['--state', url, '--durability', 'none'];
    const log: string[] = [];
    let chaosDone = false;
    let sent = 0;
    const counts: ProducerCounts = { acked: 0, refused: 0 };
    try {
      await Promise.all([startW(), startW(), startW()]);
      nodes.push(...(await Promise.all([serveChild(['--role', 'ingest', ...none], {}, file), serveChild(['--role', 'ingest', ...none], {}, file)])));
      const dashboard = await serveChild(['--role', 'dashboard', ...none, '--demo', '--demo-tokens'], {}, file);
      nodes.push(dashboard);

      // Each producer owns a quarter of the students, so per-student order is the order of `events`.
      const byProducer = Array.from({ length: PRODUCERS }, () => [] as LoEvent[]);
      for (const e of events) byProducer[partitionOf(String((e as { auth?: { user_id?: string } }).auth?.user_id ?? ''), PRODUCERS)].push(e);
      // Paced over SEND_MS so the chaos happens while events arrive; the last 10% wait for the chaos to end.
      const began = Date.now();
      const pace = async () => {
        sent += BATCH;
        while ((sent >= EVENTS * 0.9 && !chaosDone) || sent > (EVENTS * (Date.now() - began)) / SEND_MS) await new Promise((r) => setTimeout(r, 50));
      };
      const ingestUrls = () => nodes.slice(0, 2).map((n) => n.url);
      const producers = Promise.all(byProducer.map((evs, i) => produceUntilAcked(`dw-${i}`, evs, { urls: ingestUrls, batch: BATCH, counts, maxAttempts: 200, pace })));
      producers.catch(() => undefined);

      await until('a backlog', () => sent >= EVENTS * 0.1, 120_000);
      // SIGSTOP a worker while it has a batch in flight, for longer than its lease: its partitions are taken
      // over and its late commit is refused. A pause can land between batches (nothing to refuse): retry.
      let zombie: WorkerChild | undefined;
      for (let attempt = 0; attempt < 4 && !/FENCED: fenced/.test(zombie?.out() ?? ''); attempt++) {
        const held = await Promise.all(live.map(holdings));
        zombie = live[held.findIndex((h) => h.length > 0)];
        await until('the worker busy on a backlog', async () => {
          const h = (await (await fetch(`${zombie!.url}/healthz`)).json()) as { partitions: Array<{ committed: number; log_end: number }> };
          return h.partitions.some((p) => p.log_end > p.committed);
        }, 30_000, 5);
        zombie.child.kill('SIGSTOP');
        await until('the paused worker\'s partitions taken over', async () => (await leases(store, name, P)).every((l) => l.owner !== null && l.owner !== zombie!.id), 30_000);
        zombie.child.kill('SIGCONT');
        await until('the resumed worker stopped work on its partitions', () => /EXPIRED|LOST|FENCED/.test(zombie!.out()), 30_000);
        await new Promise((r) => setTimeout(r, 1000));
        log.push(`SIGSTOP at ${sent} sent (attempt ${attempt + 1})`);
      }
      expect(zombie!.out()).toMatch(/FENCED: fenced: the lease of \{[^}]+\} is held by /);
      expect(await (await fetch(`${zombie!.url}/metrics`)).text()).toMatch(/loflow_commits_total\{result="fenced"\} [1-9]/);

      // Seeded chaos while the producers send: SIGKILL a random worker (a replacement starts), add a fourth
      // and later remove it, and SIGKILL an ingest node once (its clients retry on the other; a new one starts).
      const actions: string[] = Array.from({ length: KILLS }, () => 'kill');
      actions.splice(Math.ceil(KILLS / 3), 0, 'add');
      actions.splice(1, 0, 'ingest');
      actions.splice(Math.ceil((2 * KILLS) / 3) + 2, 0, 'remove');
      let extra: WorkerChild | undefined;
      const replacements: Array<Promise<WorkerChild>> = [];
      const heldBy = new Set<string>();
      for (const action of actions) {
        await new Promise((r) => setTimeout(r, 300 + random() * 1500));
        for (const w of live) if (w.alive() && (await holdings(w).catch(() => [])).length) heldBy.add(w.id);
        if (action === 'kill') {
          // Never the last worker standing: a replacement still starting is waited for.
          while (live.filter((w) => w !== extra).length < 2) await new Promise((r) => setTimeout(r, 100));
          const victims = live.filter((w) => w !== extra);
          const victim = victims[Math.floor(random() * victims.length)];
          live.splice(live.indexOf(victim), 1);
          await signal(victim, 'SIGKILL');
          replacements.push(startW());
        } else if (action === 'ingest') {
          process.kill(nodes[0].pid, 'SIGKILL');
          nodes[0] = await serveChild(['--role', 'ingest', ...none], {}, file);
        } else if (action === 'add') {
          extra = await startW();
        } else if (extra) {
          live.splice(live.indexOf(extra), 1);
          await signal(extra, 'SIGTERM');
        }
        log.push(`${action} at ${sent} sent`);
      }
      await Promise.all(replacements);
      chaosDone = true;
      await producers;
      await until(`all ${EVENTS} events committed`, async () => {
        const l = await leases(store, name, P);
        return l.reduce((n, x) => n + x.committed, 0) === EVENTS;
      }, 600_000, 500);

      await until('every re-keyed item forwarded and applied', () => drained(store.redis, name, P), 120_000, 500);
      const crossed = await exchanged(store.redis, name, P);
      expect(crossed).toBeGreaterThan(EVENTS / 2); // class_events re-keys most raw events to another partition

      const l = await leases(store, name, P);
      expect(l.map((x) => x.committed)).toEqual(l.map((x) => x.end)); // every appended entry applied, no more
      expect(l.reduce((n, x) => n + x.end, 0)).toBe(EVENTS); // each event appended once, retries and all

      // The oracle: one uninterrupted in-memory process over the same events in the same order.
      const engine = new Engine(single, { store: new MemoryStateStore() });
      for (let i = 0; i < events.length; i += 1000) await engine.ingest('extension', structuredClone(events.slice(i, i + 1000)));
      await engine.flush();
      try {
        const want: Record<string, unknown> = {};
        for await (const [ref, state] of engine.store.scan(single.name)) want[`${ref.reducer}/${ref.version}/${ref.key}`] = state;
        expectEqualStates(await partitionedStates(store, name, P), JSON.parse(JSON.stringify(want)));

        // The dashboard node processed nothing: its tables come from every worker's commits.
        for (const g of ['class-a', 'class-b']) {
          await engine.ensureLoaded('class_overview', g);
          const expected = JSON.parse(JSON.stringify(engine.aggregate('class_overview', g)));
          const r = await fetch(`${dashboard.url}/v1/dashboards/overview/${g}?token=demo-t-ada`);
          expect(r.status).toBe(200);
          const got = (await r.json()) as { rows: Array<{ member: string }> };
          expect(got).toEqual(expected);
          expect(new Set(got.rows.map((x) => partitionOf(x.member, P))).size).toBeGreaterThan(1);
        }
      } finally {
        await engine.stop();
      }
      expect(heldBy.size).toBeGreaterThan(3); // partitions were processed by more workers than ever ran at once
      for (const w of all) expect(w.out()).not.toMatch(/CONFLICT/); // never two holders of one partition's base
      console.log(`done-when: ${log.join('; ')}; ${crossed} items re-keyed across partitions; ${counts.refused} client retries; ${heldBy.size} workers held partitions; final epochs ${l.map((x) => x.epoch).join(',')}`);
    } finally {
      chaosDone = true;
      for (const w of all) {
        if (w.alive()) w.child.kill('SIGCONT');
        await signal(w, 'SIGKILL');
      }
      await Promise.all(nodes.map((n) => n.stop()));
      await store.close();
    }
  }, 900_000);
});
