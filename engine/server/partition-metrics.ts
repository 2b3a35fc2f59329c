// Per-partition metrics (docs/scale-out.md §14 step 5): read from the engine's tasks on scrape, never
// counted per event. The label `partition` is the partition's number (0 when the pipeline has one), so
// dashboards keep working when P grows. Lag here is what this process knows (its log end − its committed
// offset); `loflow cluster status` reads the same from Redis for every partition, owned here or not.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Engine } from '../runtime.js';

export function registerPartitionMetrics(engine: Engine, registry: Registry): void {
  new Gauge({
    name: 'loflow_partition_lag_events',
    help: 'per partition: events between its log end and its committed offset',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      for (const p of engine.partitionStats()) this.set({ partition: String(p.partition) }, p.logEnd - p.committed);
    },
  });
  new Gauge({
    name: 'loflow_partition_epoch',
    help: "per partition: the epoch of the lease this process took it with (stores with leases: Redis); a takeover raises it",
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      for (const p of engine.partitionStats()) if (p.epoch !== undefined) this.set({ partition: String(p.partition) }, p.epoch);
    },
  });
  new Gauge({
    name: 'loflow_forward_pending',
    help: 'per partition with exchange edges: items its commits put in fwd that are not yet forwarded to their partitions',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of engine.partitionStats()) if (p.forwardPending !== undefined) this.set({ partition: String(p.partition) }, p.forwardPending);
    },
  });
  new Counter({
    name: 'loflow_partition_commits_total',
    help: 'per partition: batch commits by answer: ok, done (a lost reply found applied), fenced / conflict (refused: another process owns it)',
    labelNames: ['partition', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of engine.partitionStats()) for (const [result, n] of Object.entries(p.commits)) this.inc({ partition: String(p.partition), result }, n);
    },
  });
  new Counter({
    name: 'loflow_lease_renew_failures_total',
    help: 'lease renewals that failed (Redis unreachable or slow, or the lease found taken); a holder past its lease is fenced at its next commit',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(engine.store.leaseRenewFailures?.() ?? 0);
    },
  });
}
