// A worker's HTTP endpoint: /healthz (JSON: id, live members, partitions held with offsets) and /metrics
// (Prometheus: rebalances, takeover time, commits by answer, per-partition lag and epoch). Read on request
// from the Worker's fields; it takes no input beyond the path, so it needs no auth or limits beyond that.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Worker } from './worker.js';
import { registerLagSeconds } from '../server/partition-metrics.js';

export function workerMetrics(worker: Worker): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'loflow_process_' });
  new Counter({
    name: 'loflow_rebalances_total',
    help: 'partitions this worker acquired, and stopped by reason: moved (rebalanced away, graceful), lost (renewal found another holder), expired (no renewal in time), fenced (a commit refused), shutdown',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [event, n] of Object.entries(worker.rebalances)) this.inc({ event }, n);
    },
  });
  new Counter({
    name: 'loflow_partition_rollback_events_total',
    help: 'committed events this worker saw the store lose: a partition it had committed up to offset N, taken again from a lower one (a Redis failover with durability local lost the last commits)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(worker.rolledBack);
    },
  });
  let seen = 0;
  new Histogram({
    name: 'loflow_takeover_seconds',
    help: "per partition this worker took: time it had no live holder (Redis TIME, after the previous lease's end) plus acquisition to its first commit here",
    buckets: [0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 20],
    registers: [registry],
    collect() {
      for (; seen < worker.takeovers.length; seen++) this.observe(worker.takeovers[seen]);
    },
  });
  new Gauge({
    name: 'loflow_worker_partitions',
    help: 'partitions this worker holds',
    registers: [registry],
    collect() {
      this.set(worker.owned.size);
    },
  });
  new Gauge({ name: 'loflow_worker_members', help: 'live workers of the pipeline as of the last heartbeat', registers: [registry], collect() { this.set(worker.live.length); } });
  new Counter({
    name: 'loflow_commits_total',
    help: 'batch commits by answer: ok, done (a lost reply found applied), fenced / conflict (refused: another worker owns the partition)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [result, n] of Object.entries(worker.counters.commits)) this.inc({ result }, n);
    },
  });
  new Counter({ name: 'loflow_events_processed_total', help: 'events processed and committed by this worker', registers: [registry], collect() { this.reset(); this.inc(worker.counters.processed); } });
  new Gauge({
    name: 'loflow_partition_lag_events',
    help: 'per partition held: events between its log end (as last read) and its committed offset',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of worker.partitionStats()) this.set({ partition: String(p.partition) }, p.logEnd - p.committed);
    },
  });
  registerLagSeconds(() => worker.partitionStats(), registry);
  new Gauge({
    name: 'loflow_partition_epoch',
    help: 'per partition held: the epoch of its lease',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of worker.partitionStats()) this.set({ partition: String(p.partition) }, p.epoch);
    },
  });
  new Gauge({
    name: 'loflow_forward_pending',
    help: 'per partition held with exchange edges: items its commits put in fwd that are not yet forwarded to their partitions',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of worker.partitionStats()) if (p.forwardPending !== undefined) this.set({ partition: String(p.partition) }, p.forwardPending);
    },
  });
  new Counter({ name: 'loflow_lease_renew_failures_total', help: 'lease renewals that failed (Redis unreachable or slow, or the lease found taken)', registers: [registry], collect() { this.reset(); this.inc(worker.store.leaseRenewFailures()); } });
  return registry;
}

/** Serve /healthz and /metrics on host:port (0 picks a free port); resolves with the server and its URL. */
export async function serveWorker(worker: Worker, host: string, port: number): Promise<{ server: Server; url: string }> {
  const registry = workerMetrics(worker);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err) => res.writeHead(500).end(String((err as Error).message)),
      );
      return;
    }
    if (path === '/healthz') {
      const parts = worker.partitionStats().map((p) => ({ partition: p.partition, epoch: p.epoch, committed: p.committed, log_end: p.logEnd }));
      const body = { ok: true, role: 'worker', id: worker.id, pipeline: worker.pipeline.name, members: worker.live, partitions: parts, processed: worker.counters.processed, commits: worker.counters.commits, rebalances: worker.rebalances };
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('a loflow worker serves /healthz and /metrics only\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { port: number };
  return { server, url: `http://${host}:${addr.port}` };
}
