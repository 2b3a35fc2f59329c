// The runtime: one consumer loop over the input log, in micro-batches of consecutive offsets.
// Per batch and per reducer level, the states it touches are loaded in ONE store call, reduced in log order
// (derived events ordered by origin offset, then emission order), and all writes are committed with the
// batch's end offset in ONE store call. So per-key order is log order, and a store that commits writes and
// offset atomically makes state effects exactly-once across restarts.
import { EventEmitter } from 'node:events';
import type { AggregateResult } from './aggregate.js';
import { MemoryDeadLetterStore } from './deadletter/memory-deadletter.js';
import { MemoryInputLog } from './log/memory-log.js';
import { MemoryStateStore } from './state/memory-store.js';
import type { ArchiveSink, BatchRunner, CompiledPipeline, DeadLetterStore, InputLog, Json, StateStore } from './types.js';
import { ArchiveFeed } from './runtime/archive-feed.js';
import { LogConsumer } from './runtime/consumer.js';
import { newCounters, type RuntimeContext } from './runtime/context.js';
import { Health } from './runtime/health.js';
import { Ingestor } from './runtime/ingestor.js';
import { Levels } from './runtime/levels.js';
import { QuerySide } from './runtime/query-side.js';
import { StateCache } from './runtime/state-cache.js';
import type { EngineOptions, EngineStats, IngestOptions, IngestResult } from './runtime/types.js';

export type { AggregateResult } from './aggregate.js';
export type { BatchInfo, EngineOptions, EngineStats, IngestOptions, IngestResult } from './runtime/types.js';

/**
 * The public facade over the runtime's parts (engine/runtime/): the Ingestor appends to the log, the LogConsumer
 * runs batches through the Levels (states in the StateCache) and the ArchiveFeed and commits them, the
 * QuerySide answers dashboards, Health reports. The parts share one RuntimeContext; the Engine owns start, stop
 * and live swaps, which touch them all.
 */
export class Engine extends EventEmitter {
  readonly store: StateStore;
  readonly log: InputLog;
  readonly deadLetters: DeadLetterStore;
  readonly archive?: ArchiveSink;
  private readonly ctx: RuntimeContext;
  private readonly states: StateCache;
  private readonly feed: ArchiveFeed;
  private readonly stage: Levels;
  private readonly query: QuerySide;
  private readonly consumer: LogConsumer;
  private readonly ingestor: Ingestor;
  private readonly healthOf: Health;
  private readonly runner?: BatchRunner;
  private starting: Promise<void> | null = null;
  /** A live swap waiting for the batch in progress to finish. */
  private pendingSwap: CompiledPipeline | null = null;

  constructor(pipeline: CompiledPipeline, options: EngineOptions = {}) {
    super();
    this.store = options.store ?? new MemoryStateStore();
    this.log = options.log ?? new MemoryInputLog();
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetterStore();
    this.archive = options.archive;
    this.runner = options.runner;
    const ctx: RuntimeContext = (this.ctx = {
      pipeline,
      store: this.store,
      log: this.log,
      deadLetters: this.deadLetters,
      archive: this.archive,
      events: this,
      counters: newCounters(),
    });
    this.states = new StateCache(ctx);
    this.feed = new ArchiveFeed(ctx);
    this.stage = new Levels(ctx, this.states, this.feed.archivedDerived);
    const unknown = new Set<string>();
    this.query = new QuerySide(ctx, this.states, this.stage, unknown, (fn) => this.consumer.exclusive(fn));
    this.consumer = new LogConsumer(ctx, this.states, this.stage, this.feed, this.query, {
      batchSize: options.batchSize ?? 4096,
      retryMs: options.retryMs ?? 100,
      runner: options.runner,
      applySwap: () => this.applySwap(),
    });
    this.ingestor = new Ingestor(ctx, unknown, this.consumer, options.queueLimit ?? 100_000, () => this.start());
    this.healthOf = new Health(ctx, this.consumer, this.feed, this.ingestor, options.stallMs ?? 30_000);
  }

  /** The pipeline in effect (a live swap replaces it between batches). */
  get pipeline(): CompiledPipeline {
    return this.ctx.pipeline;
  }

  set pipeline(next: CompiledPipeline) {
    this.ctx.pipeline = next;
  }

  /** Recover: resume from the store's committed offset and process what the log holds beyond it. */
  start(): Promise<void> {
    // One start, however many callers (an ingest may arrive while the first start is still reading the store).
    this.starting ??= this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    const c = this.consumer;
    const name = this.ctx.pipeline.name;
    c.started = true;
    c.committed = await this.store.offset(name);
    // Views read the event-time clock (idle, wpm): restored before any batch, so commits never move it back.
    // A clock an outlier pushed far ahead before event times were bounded (see Levels.reduce) is pulled
    // back: else every learner would stay idle for good.
    const clock = Math.min((await this.store.clock?.(name)) ?? 0, Date.now() + this.stage.maxSkew());
    if (clock > this.stage.now) this.stage.now = clock;
    this.log.startAt?.(c.committed);
    c.logEnd = Math.max(await this.log.end(), c.committed);
    // The outbox is read before any batch commits; the archive is re-fed in the background (see ArchiveFeed.open).
    await this.feed.open(c.committed);
    await this.runner?.attach(name, this);
    c.running = true;
    c.kick();
  }

  /**
   * Validate events against the stream's source schema, append the valid ones to the input log (durable
   * when the log is), dead-letter the rest. Waits while too many accepted events are still unprocessed.
   */
  ingest(stream: string, events: unknown[], at = Date.now(), producer?: { id: string; seq: number }, opts: IngestOptions = {}): Promise<IngestResult> {
    return this.ingestor.ingest(stream, events, at, producer, opts);
  }

  /** Resolves when every event ingested so far is processed and committed. */
  flush(): Promise<void> {
    return this.consumer.flush();
  }

  /** Stop processing at once, without draining or closing anything: for a caller that gives up on this engine. */
  abort(): void {
    const c = this.consumer;
    c.running = false;
    c.stopping = true;
    for (const w of c.waiters.splice(0)) w();
  }

  /** Drain, commit and close the store, log, dead letters and archive. */
  async stop(): Promise<void> {
    const c = this.consumer;
    if (c.stopping) return;
    if (c.started) await this.flush();
    c.stopping = true;
    c.running = false;
    await c.pumping;
    await c.batchLock;
    await this.runner?.close();
    try {
      await this.feed.close();
    } finally {
      await Promise.all([this.store.close(), this.log.close(), this.deadLetters.close()]);
      for (const w of c.waiters.splice(0)) w();
    }
  }

  /**
   * Process the log from the committed offset up to `to` (exclusive), once: a call for a range already
   * committed does nothing. This is the step a durable batch workflow runs, also when it is resumed.
   */
  applyBatch(from: number, to: number): Promise<{ applied: number }> {
    return this.consumer.applyBatch(from, to);
  }

  /**
   * Hot reload of a stateless or state-compatible change: every reducer the two versions share must keep
   * its version (so no state changes meaning); reducers may be added (they start empty at the current
   * offset) or removed (their cached state is dropped; the store keeps it, stale). Applied between two
   * batches, so no batch sees half of each version; 'reload' is emitted once it is in effect.
   */
  swapPipeline(next: CompiledPipeline): void {
    const { pipeline } = this.ctx;
    if (next.name !== pipeline.name) throw new Error(`pipeline name changed ('${pipeline.name}' -> '${next.name}'): not a live change`);
    const now = new Map(next.reducers.map((r) => [r.name, r.version]));
    const changed = pipeline.reducers.filter((r) => now.has(r.name) && now.get(r.name) !== r.version).map((r) => r.name);
    if (changed.length) throw new Error(`reducers changed (${changed.join(', ')}): a live swap keeps state, so it only takes stateless or state-compatible changes (run \`loflow plan\` to see why)`);
    this.pendingSwap = next;
    if (!this.consumer.pumping && !this.consumer.batching) this.applySwap();
  }

  private applySwap(): void {
    const next = this.pendingSwap;
    if (!next) return;
    this.pendingSwap = null;
    this.ctx.pipeline = next;
    this.stage.reconfigure(next);
    this.states.reconfigure(next, this.stage.byName);
    this.feed.reconfigure(next);
    this.ingestor.reconfigure(next);
    this.emit('reload', next);
  }

  // ---------------------------------------------------------------------------------- reading

  view(reducer: string, key: string): Json | undefined {
    return this.query.view(reducer, key);
  }

  /** A key's raw state in the working set (what is committed): for rebuilds and the state-size metric. */
  stateOf(reducer: string, key: string): Json | undefined {
    return this.query.stateOf(reducer, key);
  }

  /** One member's states and views under an aggregation (see QuerySide.memberViews). */
  memberViews(...args: Parameters<QuerySide['memberViews']>): ReturnType<QuerySide['memberViews']> {
    return this.query.memberViews(...args);
  }

  keys(reducer: string): string[] {
    return this.query.keys(reducer);
  }

  aggregate(aggregation: string, group: string): AggregateResult {
    return this.query.aggregate(aggregation, group);
  }

  /** Load a group's states the working set lacks, so its table shows every member (see QuerySide.ensureLoaded). */
  ensureLoaded(aggregation: string, group: string): Promise<void> {
    return this.query.ensureLoaded(aggregation, group);
  }

  groups(aggregation: string): string[] {
    return this.query.groups(aggregation);
  }

  /** Every reducer's views by key (sorted) and every aggregation's groups: what `replay` prints. */
  results(): ReturnType<QuerySide['results']> {
    return this.query.results();
  }

  /** The pipeline's event-time clock: the highest event time processed. */
  clock(): number {
    return this.query.clock();
  }

  /** Not ok, with the reason (see Health.health). */
  health(): { ok: boolean; error: string | null; storeDown: boolean; stalledMs: number } {
    return this.healthOf.health();
  }

  /** health(), and whether the store answers now (see Health.checkHealth). */
  checkHealth(timeoutMs = 1000): Promise<ReturnType<Engine['health']>> {
    return this.healthOf.checkHealth(timeoutMs);
  }

  stats(): EngineStats {
    return this.healthOf.stats();
  }
}
