// A network split inside Redis Cluster (docs/scale-out.md §9 F7, §11 T7's second half): one primary (A) is
// cut off from the other nodes (two primaries, their replicas and its own replica) while the workers and the ingest node
// still reach it, as clients on A's side of a split would. A keeps answering as a primary until its node
// timeout; the majority promotes A's replica; on heal A rejoins as a replica and drops what it took alone.
// With `--durability replicated` nothing A takes alone is acknowledged (WAIT 1 gets no replica), so nothing
// acknowledged is lost: every event appended once, every entry applied once, states equal one process.
//
// Each node listens on its own loopback address (127.0.0.2-7) and connects out from it, with every cluster
// bus port and A's data port behind a proxy (test/cluster/split-proxy.mjs, a child process) that cuts by
// source address: node ↔ node links to and from A, not the clients on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { partitionOf, partitionStoreName } from '../../engine/partition.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { LoEvent } from '../../engine/types.js';
import { post, producerHeaders, produceUntilAcked, type ProducerCounts } from '../roles/role-fixture.js';
import { classroomEvents, failoverRoles, leases, oracle, partitionedDemo, partitionedStates, until } from './worker-fixture.js';

const P = 4;
const EVENTS = 2000;
const PRODUCERS = 2;
const BATCH = 50;
const userOf = (e: LoEvent) => String((e as { auth?: { user_id?: string } }).auth?.user_id ?? '');

interface SplitNode {
  ip: string;
  port: number;
  /** The port the cluster knows it by (A's: its data proxy). */
  announced: number;
  child: ChildProcess;
  dir: string;
}

const freePort = (host: string) =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** The proxies' child process: one JSON command per line, one JSON answer each. */
function splitProxy() {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'split-proxy.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(x: Record<string, unknown>) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => waiting.shift()?.(JSON.parse(l) as Record<string, unknown>));
  const ask = (cmd: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiting.push(resolve);
      child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
  return { ask, stop: () => child.kill('SIGKILL') };
}

const cli = (n: SplitNode, ...a: string[]) => execFileSync('redis-cli', ['-h', n.ip, '-p', String(n.port), ...a]).toString();
/** The address of the primary serving `slot`, as `n` sees it ('ip:port' of its CLUSTER NODES line). */
function primaryOf(n: SplitNode, slot: number): string | null {
  for (const line of cli(n, 'cluster', 'nodes').split('\n')) {
    const f = line.split(' ');
    if (f.length < 9 || !f[2].includes('master') || f[2].includes('fail')) continue;
    for (const range of f.slice(8)) {
      const [lo, hi] = range.split('-').map(Number);
      if (slot >= lo && slot <= (hi ?? lo)) return f[1].split('@')[0];
    }
  }
  return null;
}

describe('a split inside Redis Cluster: a minority primary (durability replicated)', () => {
  const proxy = splitProxy();
  const nodes: SplitNode[] = [];
  let A: SplitNode, B: SplitNode, C: SplitNode, R: SplitNode, RB: SplitNode, RC: SplitNode;

  beforeAll(async () => {
    for (const [i, ip] of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'].entries()) {
      const port = await freePort(ip);
      const bus = await freePort(ip);
      const busProxy = (await proxy.ask({ proxy: { host: ip, port: bus } })).port as number;
      // A's replica reaches A's data port through a proxy too (the replication link is cut with the split).
      const dataProxy = i === 0 ? ((await proxy.ask({ proxy: { host: ip, port } })).port as number) : null;
      const dir = mkdtempSync(join(tmpdir(), 'loflow-cluster-split-'));
      // Protected mode admits 127.0.0.1 only; each node is bound to its own 127.0.0.x and nothing else.
      const args = ['--port', String(port), '--bind', ip, '--bind-source-addr', ip, '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-announce-ip', ip, '--cluster-announce-bus-port', String(busProxy), '--cluster-node-timeout', '2000', '--cluster-config-file', join(dir, 'nodes.conf'), '--dir', dir, '--save', '', '--appendonly', 'yes', '--loglevel', 'warning', '--protected-mode', 'no'];
      if (dataProxy) args.push('--cluster-announce-port', String(dataProxy));
      nodes.push({ ip, port, announced: dataProxy ?? port, child: spawn('redis-server', args, { stdio: 'ignore' }), dir });
    }
    [A, B, C, R, RB, RC] = nodes;
    await until('the nodes answer', () => nodes.every((n) => { try { return cli(n, 'ping').trim() === 'PONG'; } catch { return false; } }), 10_000, 50);
    const run = (args: string[]) => new Promise<void>((resolve, reject) => spawn('redis-cli', args, { stdio: 'ignore' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli ${args.join(' ')}: exit ${code}`)))));
    await run(['--cluster', 'create', ...[A, B, C].map((n) => `${n.ip}:${n.announced}`), '--cluster-yes']);
    // A replica each (`replicated` needs one per primary): R is A's, on the majority side of the split.
    for (const [replica, primary] of [[R, A], [RB, B], [RC, C]]) {
      await run(['--cluster', 'add-node', `${replica.ip}:${replica.announced}`, `${primary.ip}:${primary.announced}`, '--cluster-slave', '--cluster-master-id', cli(primary, 'cluster', 'myid').trim()]);
    }
    await until('the replicas in sync and the cluster ok', () => [R, RB, RC].every((n) => /master_link_status:up/.test(cli(n, 'info', 'replication'))) && nodes.every((n) => cli(n, 'cluster', 'info').includes('cluster_state:ok')), 30_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}: ${[R, RB, RC].map((n) => cli(n, 'info', 'replication').replace(/\r?\n/g, ' ').slice(0, 200)).join(' / ')} ${cli(B, 'cluster', 'nodes')}`);
    });
  }, 60_000);

  afterAll(async () => {
    for (const n of nodes) {
      n.child.kill('SIGKILL'); // by PID: these servers are this test's
      rmSync(n.dir, { recursive: true, force: true });
    }
    proxy.stop();
  });

  it('acknowledges nothing the minority primary takes alone: after promotion and heal every event is applied once and states equal one process', async () => {
    // A pipeline name with partitions both on A's slots and elsewhere.
    const slotOf = (name: string, n: number) => Number(cli(B, 'cluster', 'keyslot', `lf:{${partitionStoreName(name, n, P)}}:in`).trim());
    const aSlots = (name: string) => Array.from({ length: P }, (_, n) => n).filter((n) => primaryOf(B, slotOf(name, n)) === `${A.ip}:${A.announced}`);
    let name = '';
    for (let k = 0; ; k++) {
      name = `cs${Date.now().toString(36)}${k}`;
      const on = aSlots(name).length;
      if (on > 0 && on < P) break;
    }
    const onA = aSlots(name);
    const { file, single } = await partitionedDemo(name, P);
    const url = `redis-cluster://${B.ip}:${B.port},${C.ip}:${C.port}`;
    const store = await RedisStateStore.connect(url);
    const events = classroomEvents(EVENTS, 41, 40);
    // A probe sent during the split: one more student (not among the 40), on a partition A serves.
    const probeStudent = Array.from({ length: 150 }, (_, i) => `s-${String(i + 50).padStart(4, '0')}`).find((s) => onA.includes(partitionOf(s, P)))!;
    const template = userOf(events[0]);
    const probe = events.filter((e) => userOf(e) === template).slice(0, 20).map((e) => JSON.parse(JSON.stringify(e).replaceAll(template, probeStudent)) as LoEvent);
    const roles = failoverRoles(file, url, 'replicated');
    try {
      const { workers, ingest } = await roles.start();
      const byProducer = Array.from({ length: PRODUCERS }, () => [] as LoEvent[]);
      for (const e of events) byProducer[partitionOf(userOf(e), PRODUCERS)].push(e);
      const acked: ProducerCounts = { acked: 0, refused: 0 };
      const producers = Promise.all(byProducer.map((evs, i) => produceUntilAcked(`cs-${i}`, evs, { urls: () => [ingest!.url], batch: BATCH, counts: acked, maxAttempts: 400, pace: () => new Promise((res) => setTimeout(res, 40)) })));
      producers.catch(() => undefined);
      await until('a third acknowledged', () => acked.acked >= EVENTS / 3, 60_000, 20);

      // The split: A alone on one side (with the clients), B, C and A's replica R on the other.
      const inKey = `lf:{${partitionStoreName(name, onA[0], P)}}:in`;
      await proxy.ask({ isolate: A.ip });
      const ackedAtSplit = acked.acked;
      const t0 = Date.now();
      // A request for A's partitions while A still thinks it is a primary: A runs the append, WAIT 1 finds no
      // replica, so the answer is a refusal, never an acknowledgement.
      const refused = await post(ingest.url, JSON.stringify(probe), producerHeaders('cs-probe', 0), 20_000);
      expect(refused.status).toBe(503);
      const aStateEarly = /cluster_state:(\w+)/.exec(cli(A, 'cluster', 'info'))![1];
      // The majority promotes R; A, alone, stops taking writes once its node timeout has passed.
      await until('R promoted by the majority', () => primaryOf(B, slotOf(name, onA[0])) === `${R.ip}:${R.port}`, 30_000, 100);
      const promotedMs = Date.now() - t0;
      await until('A refusing as a minority', () => cli(A, 'cluster', 'info').includes('cluster_state:fail'), 30_000, 100);
      const majorityLen = Number(cli(R, 'xlen', inKey).trim());
      // Still refused on the majority side: R has no replica to acknowledge with (A is its only candidate).
      expect((await post(ingest.url, JSON.stringify(probe), producerHeaders('cs-probe', 0), 20_000)).status).toBe(503);

      await proxy.ask({ heal: true });
      const t1 = Date.now();
      await until('A back as R\'s replica', () => /role:slave[\s\S]*master_link_status:up/.test(cli(A, 'info', 'replication')), 30_000, 100);
      const rejoinedMs = Date.now() - t1;

      await produceUntilAcked('cs-probe', probe, { urls: () => [ingest!.url], batch: probe.length, counts: acked, maxAttempts: 400 });
      await producers;
      const total = EVENTS + probe.length;
      await until(`all ${total} events committed`, async () => (await leases(store, name, P)).reduce((n, l) => n + l.committed, 0) === total, 90_000, 200).catch(async (err: Error) => {
        const want = Array.from({ length: P }, (_, n) => [...events, ...probe].filter((e) => partitionOf(userOf(e), P) === n).length);
        const dups: string[] = [];
        const byWho = new Map<string, number[]>();
        for (let n = 0; n < P; n++) {
          const seen = new Map<string, string>();
          for (const [id, f] of (await store.redis.xrange(`lf:{${partitionStoreName(name, n, P)}}:in`, '-', '+')) as Array<[string, string[]]>) {
            const pq = `${f[f.indexOf('p') + 1]}#${f[f.indexOf('q') + 1]}`;
            if (seen.has(pq)) dups.push(`p${n} ${pq} at ${seen.get(pq)} and ${id}`);
            const who = f[f.indexOf('p') + 1];
            const q = Number(f[f.indexOf('q') + 1]);
            const k = `p${n}/${who}`;
            byWho.set(k, [...(byWho.get(k) ?? []), q]);
            seen.set(pq, id);
          }
        }
        const qs = [...byWho].map(([k, v]) => {
          const sorted = v.slice().sort((x, y) => x - y);
          const gaps = sorted.filter((x, i) => i > 0 && x !== sorted[i - 1] + 1);
          return `${k}: ${v.length} q ${sorted[0]}..${sorted.at(-1)} jumps at ${gaps.slice(0, 5).join(',')}`;
        });
        throw new Error(`${err.message}: ${qs.join(' | ')}; want ${want.join(',')}, ${JSON.stringify(await leases(store, name, P))}; A's partitions ${onA.join(',')}; duplicates: ${dups.slice(0, 10).join('; ')} (${dups.length}); workers: ${workers.map((w) => w.out().split('\n').slice(-15).join('\n')).join('\n---\n')}`);
      });
      const l = await leases(store, name, P);
      // What A took alone is gone: once quiet, its copy of the stream is R's (same length, same last id).
      const streamOf = (n: SplitNode) => {
        // READONLY first: A is a replica now, which answers reads only to a connection that asks for them.
        const info = execFileSync('redis-cli', ['-h', n.ip, '-p', String(n.port)], { input: `READONLY\nXINFO STREAM ${inKey}\n` }).toString().split('\n').map((x) => x.trim());
        return { length: info[info.indexOf('length') + 1], last: info[info.indexOf('last-generated-id') + 1] };
      };
      await until('A holds what R holds', () => JSON.stringify(streamOf(A)) === JSON.stringify(streamOf(R)), 10_000, 100).catch((err: Error) => {
        throw new Error(`${err.message}: A ${JSON.stringify(streamOf(A))} ${cli(A, 'info', 'replication').replace(/\r?\n/g, ' ').slice(0, 300)}, R ${JSON.stringify(streamOf(R))}`);
      });
      expect(l.reduce((n, x) => n + x.end, 0)).toBe(total); // each event appended once: none lost, none doubled
      expect(l.map((x) => x.committed)).toEqual(l.map((x) => x.end));
      const order = [...events, ...probe]; // the probe's student has no other events: its order is its own
      expect(await partitionedStates(store, name, P)).toEqual(await oracle(single, order));
      expect(acked.refused).toBeGreaterThan(0);
      for (const w of workers) expect(w.out()).not.toMatch(/CONFLICT/);
      // A batch read on A's side and committed there, whose retry then reached R, is refused (commit.lua's
      // log check): counted, not required (it needs a worker to read from A in the seconds before A stops).
      const refusedRetries = workers.map((w) => (w.out().match(/a failover dropped them/g) ?? []).length).reduce((a, b) => a + b, 0);
      console.log(
        `cluster split: A (partitions ${onA.join(',')}) isolated after ${ackedAtSplit} acknowledged; A said cluster_state:${aStateEarly} at first; R promoted in ${promotedMs} ms; ` +
          `stream p${onA[0]}: ${majorityLen} entries on R before heal; A rejoined as replica ${rejoinedMs} ms after heal; ${acked.refused} requests refused and re-sent; ${refusedRetries} worker commits refused as read from dropped entries`,
      );
    } finally {
      await roles.stop();
      await store.close();
    }
  }, 180_000);
});
