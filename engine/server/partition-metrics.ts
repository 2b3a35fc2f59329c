// Per-partition metrics (docs/scale-out.md §14 step 5): read from the engine's tasks on scrape, never
// counted per event. The label `partition` is the partition's number (0 when the pipeline has one), so
// dashboards keep working when P grows. Lag here is what this process knows (its log end − its committed
// offset); `loflow cluster status` reads the same from Redis for every partition, owned here or not.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Engine } from '../runtime.js';
import type { PartitionStats } from '../runtime/partition-task.js';

/**
 * Per partition, how old the oldest event is that it read and has not committed (0 when caught up): the lag
 * a teacher feels, where lag_events says how much work is queued. Event arrival time, this process's clock.
 */
export function registerLagSeconds(stats: () => PartitionStats[], registry: Registry): void {
  new Gauge({
    name: 'loflow_partition_lag_seconds',
    help: 'per partition: age of the oldest event read and not yet committed (0 when caught up)',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset(); // a worker's partitions come and go
      const now = Date.now();
      for (const p of stats()) this.set({ partition: String(p.partition) }, p.oldestAt === undefined ? 0 : Math.max(0, now - p.oldestAt) / 1000);
    },
  });
}

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
  registerLagSeconds(() => engine.partitionStats(), registry);
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
