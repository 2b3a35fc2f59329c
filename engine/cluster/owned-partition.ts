// One partition a worker holds (docs/scale-out.md §5.1-5.3): its PartitionTask over the partition's Redis
// Stream, started from the cursor read atomically with the lease, and a follower that notices what other
// processes (ingest nodes) appended. Stopped gracefully (the current batch commits, then the lease is freed)
// or dropped at once (lease lost, expired or fenced: a batch in flight is refused by commit.lua's fence).
import { EventEmitter } from 'node:events';
import { RedisInputLog } from '../log/redis-log.js';
import { PartitionTask } from '../runtime/partition-task.js';
import type { Counters } from '../runtime/context.js';
import type { Durability } from '../state/durability.js';
import type { RedisStateStore } from '../state/redis-store.js';
import type { CompiledPipeline, DeadLetterStore } from '../types.js';

export interface OwnedOptions {
  pipeline: CompiledPipeline;
  store: RedisStateStore;
  deadLetters: DeadLetterStore;
  durability: Durability;
  counters: Counters;
  batchSize: number;
  unknown: Set<string>;
}

export class OwnedPartition {
  readonly events = new EventEmitter();
  task!: PartitionTask;
  private log!: RedisInputLog;
  private following: Promise<void> | null = null;
  /** When this worker's first commit on the partition landed (takeover measured once). */
  firstCommitAt: number | null = null;

  private constructor(
    readonly partition: number,
    readonly tag: string,
    readonly epoch: number,
    /** Local clock at the acquisition, and how long the partition lay without a holder before it (Redis TIME). */
    readonly acquiredAt: number,
    readonly freeForMs: number,
    private readonly store: RedisStateStore,
  ) {}

  /** Build and recover the task (the lease is held already: recover's acquire returns it), then run it. */
  static async start(n: number, tag: string, held: { epoch: number; freeForMs: number }, acquiredAt: number, o: OwnedOptions): Promise<OwnedPartition> {
    const p = new OwnedPartition(n, tag, held.epoch, acquiredAt, held.freeForMs, o.store);
    p.log = await RedisInputLog.attach(o.store.redis, tag, o.durability);
    const ctx = { pipeline: o.pipeline, store: o.store, storeName: tag, partition: n, log: p.log, deadLetters: o.deadLetters, events: p.events, counters: o.counters };
    p.task = new PartitionTask(ctx, o.unknown, { batchSize: o.batchSize, retryMs: 100, applied: () => undefined });
    p.events.on('batch', () => (p.firstCommitAt ??= Date.now()));
    p.events.on('retry', () => undefined); // counted in counters.retries; an unhandled 'error'-like event must not throw
    await p.task.recover();
    if (p.task.consumer.committed >= p.task.consumer.logEnd) p.firstCommitAt = Date.now(); // nothing waiting: taken over now
    p.task.go();
    return p;
  }

  /** Committed offset and log end as this worker knows them. */
  get committed(): number {
    return this.task.consumer.committed;
  }

  /** Read the partition's log end from Redis when idle, and start a batch if other processes appended. */
  follow(): Promise<void> {
    const c = this.task.consumer;
    if (this.following || !c.running || c.pumping) return this.following ?? Promise.resolve();
    this.following = this.log
      .refreshEnd()
      .then((end) => {
        if (end > c.logEnd) {
          if (c.committed >= c.logEnd) c.progressAt = Date.now();
          c.logEnd = end;
          c.kick();
        }
      })
      .catch(() => undefined) // Redis unreachable: the lease expires and the partition is dropped (worker tick)
      .finally(() => (this.following = null));
    return this.following;
  }

  /** Graceful: no new batch, the current one commits; then the lease is freed for the next owner. */
  async stop(): Promise<void> {
    await this.task.halt();
    await this.following;
    await this.log.close();
    await this.store.releaseLease(this.tag);
  }

  /**
   * At once: ownership is gone or in doubt. The lease is forgotten here (not freed: it may be someone else's); a
   * batch in flight still ends with its commit, which commit.lua refuses (FENCED) unless nobody took over.
   */
  async drop(): Promise<void> {
    void this.store.releaseLease(this.tag, true);
    this.task.abort();
    await this.task.halt();
    await this.following;
    await this.log.close();
  }
}
