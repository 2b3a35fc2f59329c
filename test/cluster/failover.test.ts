// Redis primary failover under load (docs/scale-out.md §9 F6, §11 T6): a 3-primary Redis Cluster with one
// replica each (AOF on, cluster-node-timeout 2 s), two workers and an ingest node, all `--durability
// replicated`, as child processes. At-least-once producers (numbered batches, re-sent until acknowledged)
// send while the primary holding partition 0 is SIGKILLed; its replica is promoted. The promoted primary has
// no replica, so `replicated` refuses the acks of its slots (WAIT 1 on it cannot be met; the test shows that
// refusal, and that the other primaries' slots still acknowledge) until the
// killed server, restarted from its folder, rejoins as its replica. At the end: every event appended exactly
// once (dense offsets, no acknowledged one missing), every appended one applied, states equal one process.
// First, a request while a replica is stopped is refused (503), not acknowledged (F7's point for ingest).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { startRedis, startRedisCluster, type RunningRedis } from '../../bench/servers.js';
import { partitionOf, partitionStoreName } from '../../engine/partition.js';
import { waitForReplica } from '../../engine/state/durability.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { LoEvent } from '../../engine/types.js';
import { post, producerHeaders, produceUntilAcked, type ProducerCounts } from '../roles/role-fixture.js';
import { classroomEvents, failoverRoles, leases, oracle, partitionedDemo, partitionedStates, servedBy, until } from './worker-fixture.js';

const P = 4;
const EVENTS = 2000;
const PRODUCERS = 2;
const BATCH = 50;
const cli = (port: number, ...a: string[]) => execFileSync('redis-cli', ['-p', String(port), ...a]).toString();

describe('Redis primary failover (durability replicated)', () => {
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
  let restarted: RunningRedis | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster(3, { replicas: 1, args: ['--appendonly', 'yes'] });
  });
  afterAll(async () => {
    await restarted?.stop();
    await cluster?.stop();
  });

  it('loses no acknowledged event, appends each once, and equals one process after a primary is SIGKILLed and its replica promoted', async () => {
    const name = `fo${Date.now().toString(36)}`;
    const { file, single } = await partitionedDemo(name, P);
    const url = cluster.url;
    const store = await RedisStateStore.connect(url);
    const events = classroomEvents(EVENTS, 31, 40);
    const roles = failoverRoles(file, url, 'replicated');
    try {
      const { workers, ingest } = await roles.start();

      // The primary serving partition 0's slot: the one to kill.
      const slot = Number(cli(cluster.nodes[0].port, 'cluster', 'keyslot', `lf:{${partitionStoreName(name, 0, P)}}:in`).trim());
      const owner = cluster.nodes.find((n) => servedBy(cli(n.port, 'cluster', 'nodes'), slot) === n.port)!;
      const byProducer = Array.from({ length: PRODUCERS }, () => [] as LoEvent[]);
      for (const e of events) byProducer[partitionOf(String((e as { auth?: { user_id?: string } }).auth?.user_id ?? ''), PRODUCERS)].push(e);
      // F7's point for the ingest path: a primary cut off from its replica (here: the replica SIGSTOPped, as a
      // split would leave it) cannot get WAIT 1, so the request is refused, not acknowledged; its re-send once
      // the replica is back is acknowledged and (the script did run on the primary) dropped as a duplicate.
      const replica = cluster.nodes.find((n) => /role:slave/.test(cli(n.port, 'info', 'replication')) && cli(n.port, 'info', 'replication').includes(`master_port:${owner.port}`))!;
      process.kill(replica.pid, 'SIGSTOP');
      let unreplicated;
      try {
        unreplicated = await post(ingest.url, JSON.stringify(byProducer[0].slice(0, BATCH)), producerHeaders('fo-0', 0), 20_000);
      } finally {
        process.kill(replica.pid, 'SIGCONT');
      }
      expect(unreplicated.status).toBe(503);
      expect(JSON.stringify(unreplicated.body)).toMatch(/nothing was accepted, retry/);

      const acked: ProducerCounts = { acked: 0, refused: 0 };
      // Paced (40 ms after each batch) so the failover lands mid-stream.
      const producers = Promise.all(byProducer.map((evs, i) => produceUntilAcked(`fo-${i}`, evs, { urls: () => [ingest!.url], batch: BATCH, counts: acked, maxAttempts: 300, pace: () => new Promise((res) => setTimeout(res, 40)) })));
      producers.catch(() => undefined);

      await until('a third acknowledged', () => acked.acked >= EVENTS / 3, 60_000, 20);
      const ackedBeforeKill = acked.acked;
      process.kill(owner.pid, 'SIGKILL');
      const t0 = Date.now();
      const survivor = cluster.nodes.find((n) => n !== owner)!;
      await until('the replica promoted', () => {
        const by = servedBy(cli(survivor.port, 'cluster', 'nodes'), slot);
        return by !== null && by !== owner.port && cli(survivor.port, 'cluster', 'info').includes('cluster_state:ok');
      }, 30_000, 100);
      const promotedMs = Date.now() - t0;
      // The promoted primary has no replica yet, so `replicated` cannot acknowledge what it takes (WAIT 1 on
      // it fails): a re-send of a batch with events of its partitions is refused, until a replica is back;
      // the other primaries' slots keep acknowledging.
      const promoted = servedBy(cli(survivor.port, 'cluster', 'nodes'), slot)!;
      expect(cli(promoted, 'info', 'replication')).toMatch(/connected_slaves:0/);
      await new Promise((r) => setTimeout(r, 1000));
      const withoutReplica = await post(ingest.url, JSON.stringify(byProducer[0].slice(0, BATCH)), producerHeaders('fo-0', 0), 20_000);
      expect(withoutReplica.status).toBe(503);
      // Only the slots of the primary without a replica refuse: WAIT goes to the primary that took the write.
      const other = Array.from({ length: 100 }, (_, i) => `lf:{probe${i}}:in`).find((k) => {
        const s2 = Number(cli(survivor.port, 'cluster', 'keyslot', k).trim());
        return servedBy(cli(survivor.port, 'cluster', 'nodes'), s2) !== promoted;
      })!;
      const k0 = `lf:{${partitionStoreName(name, 0, P)}}:in`;
      await store.redis.exists(k0); // as a writer would: a command on the slot brings this connection's slot table up to date
      await expect(waitForReplica(store.redis, other)).resolves.toBeUndefined();
      await expect(waitForReplica(store.redis, k0)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      // Back from its own folder: nodes.conf makes it a replica of the promoted one (AOF gives its old data,
      // which the new primary's full sync then replaces).
      restarted = await startRedis({ port: owner.port, cluster: true, dir: owner.dir, args: ['--appendonly', 'yes'] });
      await until('the restarted server replicates', () => /role:slave[\s\S]*master_link_status:up/.test(cli(owner.port, 'info', 'replication')), 30_000, 100).catch((err: Error) => {
        throw new Error(`${err.message}: ${cli(owner.port, 'info', 'replication')} ${cli(owner.port, 'cluster', 'nodes')}`);
      });

      await producers;
      await until(`all ${EVENTS} events committed`, async () => (await leases(store, name, P)).reduce((n, l) => n + l.committed, 0) === EVENTS, 60_000, 200);
      const l = await leases(store, name, P);
      expect(l.reduce((n, x) => n + x.end, 0)).toBe(EVENTS); // each event appended once: none lost, none doubled by re-sends
      expect(l.map((x) => x.committed)).toEqual(l.map((x) => x.end)); // every appended entry applied
      expect(await partitionedStates(store, name, P)).toEqual(await oracle(single, events));
      expect(acked.refused).toBeGreaterThan(0); // the failover was felt: some requests were refused and re-sent
      for (const w of workers) expect(w.out()).not.toMatch(/CONFLICT/);
      console.log(`failover: with a replica stopped the ingest answered ${unreplicated.status}; primary :${owner.port} SIGKILLed after ${ackedBeforeKill} acknowledged; replica promoted in ${promotedMs} ms; ${acked.refused} requests refused and re-sent; final epochs ${l.map((x) => x.epoch).join(',')}`);
    } finally {
      await roles.stop();
      await store.close();
    }
  }, 120_000);
});
