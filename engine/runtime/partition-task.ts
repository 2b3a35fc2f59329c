// One partition's task (Kafka Streams' sense): its input log's consumer, its state cache, its reducer levels,
// its archive feed and the query side over its cache; nothing else. A pipeline with P partitions runs P of
// these (the Engine routes events to them, engine/runtime.ts); with P = 1 the single task is today's engine.
// A task touches only its own records in the store (ctx.storeName), so tasks never share a commit.
import { partitionOf } from '../partition.js';
import type { CompiledPipeline, LoEvent } from '../types.js';
import { ArchiveFeed } from './archive-feed.js';
import { LogConsumer, type ConsumerOptions } from './consumer.js';
import type { RuntimeContext } from './context.js';
import { Levels } from './levels.js';
import { QuerySide } from './query-side.js';
import { StateCache } from './state-cache.js';

/** One partition's numbers for /metrics and status: read from the task's own fields, no store call. */
export interface PartitionStats {
  /** The partition's number (0 when the pipeline has one). */
  partition: number;
  /** Its name in the store (the key layout's hash tag). */
  storeName: string;
  committed: number;
  logEnd: number;
  epoch: number | undefined;
  commits: Readonly<{ ok: number; done: number; fenced: number; conflict: number }>;
  /** Exchange edges: committed fwd entries not yet forwarded (absent without exchange edges). */
  forwardPending?: number;
  /** Arrival time (ms) of the oldest event read and not committed: absent when none is known (caught up). */
  oldestAt?: number;
}

export class PartitionTask {
  readonly states: StateCache;
  readonly feed: ArchiveFeed;
  readonly stage: Levels;
  readonly query: QuerySide;
  readonly consumer: LogConsumer;
  /** The lease epoch this task took its partition with (stores with leases: Redis), for metrics. */
  epoch: number | undefined;
  /** A live swap waiting for this task's batch in progress to finish. */
  private pendingSwap: CompiledPipeline | null = null;
  /** Applies a pending swap and tells the Engine (the consumer calls it between batches). */
  private readonly onSwap: () => void;

  constructor(
    readonly ctx: RuntimeContext,
    /** Members no roster knows (the Ingestor's set, shared by all tasks). */
    unknown: ReadonlySet<string>,
    opts: Omit<ConsumerOptions, 'applySwap'> & { applied: (task: PartitionTask, next: CompiledPipeline) => void },
  ) {
    this.states = new StateCache(ctx);
    this.feed = new ArchiveFeed(ctx);
    this.stage = new Levels(ctx, this.states, this.feed.archivedDerived);
    this.query = new QuerySide(ctx, this.states, this.stage, unknown, (fn) => this.consumer.exclusive(fn));
    this.onSwap = () => {
      const next = this.applySwap();
      if (next) opts.applied(this, next);
    };
    this.consumer = new LogConsumer(ctx, this.states, this.stage, this.feed, this.query, {
      batchSize: opts.batchSize,
      retryMs: opts.retryMs,
      runner: opts.runner,
      applySwap: this.onSwap,
    });
    const n = ctx.partition;
    if (n !== undefined) this.confine(n);
  }

  /**
   * With P > 1: dashboards' reads and derived events stay within this partition's routing values; exchange
   * reducers' items cross partitions through the store's exchange link (docs/scale-out.md §6).
   */
  private confine(n: number): void {
    const count = this.ctx.pipeline.partitions?.count ?? 1;
    const mine = (value: string) => partitionOf(value, count) === n;
    const exchanged = this.ctx.pipeline.reducers.filter((r) => r.placement === 'exchange');
    if (count > 1 && exchanged.length) {
      const link = this.ctx.store.exchangeLink?.(this.ctx.pipeline.name, n, count);
      if (!link) throw new Error(`pipeline '${this.ctx.pipeline.name}': reducer '${exchanged[0].name}' is keyed by '${exchanged[0].key.name}', not the routing key: with partitions.count ${count} its items cross partitions (an exchange edge, docs/scale-out.md §6), which needs a state store with exchange links (memory, Redis); the ${this.ctx.store.kind} store has none. Use one of those or partitions.count: 1`);
      this.consumer.exchange = link;
      this.stage.exchange = { n, count, route: (event) => this.ctx.pipeline.partitions?.route?.(event) };
    }
    this.states.owns = mine;
    this.stage.away = (event: LoEvent) => {
      const route = this.ctx.pipeline.partitions?.route;
      let value: string | undefined;
      try {
        value = route?.(event);
      } catch {
        return undefined; // the readers' key fails on it too: they dead-letter it with that reason
      }
      return value === undefined || mine(value) ? undefined : `an event for '${value}', whose partition is ${partitionOf(value, count)}, not ${n}: operators must not emit another learner's events (an exchange edge)`;
    };
  }

  /** Resume from the store's committed offset: before any batch of this task runs. */
  async recover(): Promise<void> {
    const { ctx, consumer: c, stage } = this;
    c.started = true;
    // Own the partition first (a store shared by processes fences every other owner's commits from now on).
    this.epoch = (await ctx.store.acquire?.(ctx.storeName))?.epoch;
    c.committed = await ctx.store.offset(ctx.storeName);
    // Views read the event-time clock (idle, wpm): restored before any batch, so commits never move it back.
    // A clock an outlier pushed far ahead before event times were bounded (see Levels.reduce) is pulled
    // back: else every learner would stay idle for good.
    const clock = Math.min((await ctx.store.clock?.(ctx.storeName)) ?? 0, Date.now() + stage.maxSkew());
    if (clock > stage.now) stage.now = clock;
    ctx.log.startAt?.(c.committed);
    c.logEnd = Math.max(await ctx.log.end(), c.committed);
    if (c.exchange) {
      await c.exchange.open();
      c.inboundWaiting = true; // whatever other partitions forwarded meanwhile
    }
    // The outbox is read before any batch commits; the archive is re-fed in the background (see ArchiveFeed.open).
    await this.feed.open(c.committed, () => c.flush());
  }

  stats(): PartitionStats {
    const c = this.consumer;
    const stats: PartitionStats = { partition: this.ctx.partition ?? 0, storeName: this.ctx.storeName, committed: c.committed, logEnd: Math.max(c.logEnd, c.committed), epoch: this.epoch, commits: c.commits };
    if (c.exchange) stats.forwardPending = c.exchange.forwardPending;
    if (c.oldestAt !== undefined && stats.logEnd > stats.committed) stats.oldestAt = c.oldestAt;
    return stats;
  }

  /** Process what the log holds beyond the committed offset, and what is appended later. */
  go(): void {
    this.consumer.running = true;
    this.consumer.kick();
  }

  /** Stop at once, without draining (Engine.abort). */
  abort(): void {
    const c = this.consumer;
    c.running = false;
    c.stopping = true;
    for (const w of c.waiters.splice(0)) w();
  }

  /** Stop taking batches once the current one is done (after a flush); the caller closes what is shared. */
  async halt(): Promise<void> {
    const c = this.consumer;
    c.stopping = true;
    c.running = false;
    await c.pumping;
    await c.batchLock;
    await c.exchange?.close();
  }

  /** Queue a live swap: applied now when idle, else between two of this task's batches. */
  swap(next: CompiledPipeline): void {
    this.pendingSwap = next;
    if (!this.consumer.pumping && !this.consumer.batching) this.onSwap();
  }

  private applySwap(): CompiledPipeline | null {
    const next = this.pendingSwap;
    if (!next) return null;
    this.pendingSwap = null;
    this.ctx.pipeline = next;
    this.stage.reconfigure(next);
    this.states.reconfigure(next, this.stage.byName);
    this.feed.reconfigure(next);
    return next;
  }
}
