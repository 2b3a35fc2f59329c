// The runtime: per partition, one consumer loop over its input log, in micro-batches of consecutive offsets.
// Per batch and per reducer level, the states it touches are loaded in ONE store call, reduced in log order
// (derived events ordered by origin offset, then emission order), and all writes are committed with the
// batch's end offset in ONE store call. So per-key order is log order, and a store that commits writes and
// offset atomically makes state effects exactly-once across restarts.
import { EventEmitter } from 'node:events';
import type { AggregateResult } from './aggregate.js';
import { MemoryDeadLetterStore } from './deadletter/memory-deadletter.js';
import { MemoryInputLog } from './log/memory-log.js';
import { wantsRawJson } from './log/raw-json.js';
import { partitionStoreName } from './partition.js';
import { MemoryStateStore } from './state/memory-store.js';
import type { ArchiveEraseRequest, ArchiveEraseResult, ArchiveSink, BatchRunner, CompiledPipeline, DeadLetterStore, InputLog, Json, StateStore } from './types.js';
import { eraseLive, type LiveErasure } from './erase/erase-live.js';
import { learnerMatch } from './erase/match.js';
import { newCounters } from './runtime/context.js';
import { Health, PartitionedHealth } from './runtime/health.js';
import { Ingestor } from './runtime/ingestor.js';
import { PartitionTask, type PartitionStats } from './runtime/partition-task.js';
import { drainExchanges, pollExchanges } from './runtime/exchange-drain.js';
import { PartitionedQuery } from './runtime/partitioned-query.js';
import type { MemberViewParams, MemberViews, Queries, Results } from './runtime/query-side.js';
import type { EngineOptions, EngineStats, IngestOptions, IngestResult } from './runtime/types.js';

export type { AggregateResult } from './aggregate.js';
export type { BatchInfo, EngineOptions, EngineStats, IngestOptions, IngestResult } from './runtime/types.js';

/**
 * The public facade over the runtime's parts (engine/runtime/): the Ingestor validates events and appends
 * each to its partition's log; per partition a PartitionTask (consumer, state cache, levels, archive feed)
 * runs batches and commits them; the query side answers dashboards across the tasks; Health reports. With
 * P = 1 (no `partitions:`) there is one task over the given log and the store's records keep the pipeline's
 * name: today's engine. The Engine owns start, stop and live swaps, which touch every task.
 */
export class Engine extends EventEmitter {
  readonly store: StateStore;
  /** The input log (with P > 1, partition 0's: each partition has its own in-memory log). */
  readonly log: InputLog;
  readonly deadLetters: DeadLetterStore;
  readonly archive?: ArchiveSink;
  private readonly tasks: PartitionTask[];
  /** Exchange edges (P > 1 on Redis): idle partitions polled for items others forwarded to them. */
  private exchangePoll?: { stop(): void };
  private readonly query: Queries;
  private readonly ingestor: Ingestor;
  private readonly healthOf: Health | PartitionedHealth;
  private readonly runner?: BatchRunner;
  private starting: Promise<void> | null = null;
  /** The pipeline in effect once every task has applied it (a live swap replaces it between batches). */
  private current: CompiledPipeline;
  /** A live swap not yet applied by every task. */
  private requested: CompiledPipeline | null = null;

  constructor(pipeline: CompiledPipeline, options: EngineOptions = {}) {
    super();
    const count = pipeline.partitions?.count ?? 1;
    if (count > 1) refusePartitioned(options, count);
    this.store = options.store ?? new MemoryStateStore();
    if (options.partitionLogs && options.partitionLogs.length !== count) throw new Error(`${options.partitionLogs.length} partition logs for partitions.count ${count}`);
    this.log = options.log ?? options.partitionLogs?.[0] ?? new MemoryInputLog();
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetterStore();
    this.archive = options.archive;
    this.runner = options.runner;
    this.current = pipeline;
    const counters = newCounters();
    const unknown = new Set<string>();
    const applied = () => this.applied();
    this.tasks = Array.from({ length: count }, (_, n) => {
      const ctx = {
        pipeline,
        store: this.store,
        storeName: partitionStoreName(pipeline.name, n, count),
        ...(count > 1 ? { partition: n } : {}),
        log: n === 0 ? this.log : (options.partitionLogs?.[n] ?? new MemoryInputLog()),
        deadLetters: this.deadLetters,
        // Partitioned: each task feeds its own part writer (one chain set per partition, docs/scale-out.md §8).
        archive: count > 1 ? this.archive?.forPartition!(n) : this.archive,
        events: this,
        counters,
      };
      return new PartitionTask(ctx, unknown, { batchSize: options.batchSize ?? 4096, retryMs: options.retryMs ?? 100, runner: options.runner, applied });
    });
    const first = this.tasks[0];
    const targets = this.tasks.map((t) => ({ consumer: t.consumer, log: t.ctx.log }));
    this.ingestor = new Ingestor(first.ctx, unknown, targets, options.queueLimit ?? 100_000, () => this.start());
    const stallMs = options.stallMs ?? 30_000;
    const healthOf = (t: PartitionTask) => new Health(t.ctx, t.consumer, t.feed, this.ingestor, stallMs);
    if (count === 1) {
      this.query = first.query;
      this.healthOf = healthOf(first);
    } else {
      this.query = new PartitionedQuery(this.tasks, unknown);
      this.healthOf = new PartitionedHealth(first.ctx, this.tasks.map(healthOf), this.ingestor, this.tasks.map((t) => t.consumer));
    }
  }

  /** The pipeline in effect (a live swap replaces it between batches). */
  get pipeline(): CompiledPipeline {
    return this.current;
  }

  /** Recover: resume from the store's committed offsets and process what the logs hold beyond them. */
  start(): Promise<void> {
    // One start, however many callers (an ingest may arrive while the first start is still reading the store).
    this.starting ??= this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.recover()));
    await this.runner?.attach(this.current.name, this);
    for (const t of this.tasks) t.go();
    this.exchangePoll = pollExchanges(this.tasks);
  }

  /**
   * Validate events against the stream's source schema, append the valid ones to the input log (durable
   * when the log is), dead-letter the rest. Waits while too many accepted events are still unprocessed.
   */
  ingest(stream: string, events: unknown[], at = Date.now(), producer?: { id: string; seq: number }, opts: IngestOptions = {}): Promise<IngestResult> {
    return this.ingestor.ingest(stream, events, at, producer, opts);
  }

  /** Ingests waiting for room in the backlog (ingest sockets stop reading meanwhile). */
  get ingestWaiting(): number {
    return this.ingestor.waiting;
  }

  /** Resolves when every event ingested so far is processed and committed. */
  async flush(): Promise<void> {
    if (this.tasks.length === 1) return this.tasks[0].consumer.flush();
    await Promise.all(this.tasks.map((t) => t.consumer.flush()));
    await drainExchanges(this.tasks); // exchange edges: items between partitions after their batches committed
  }

  /** The archive takes raw events' JSON texts (log/raw-json.ts): one partition, raw events archived, a sink that reuses them. */
  archivesRawJson(): boolean {
    return this.tasks.length === 1 && wantsRawJson(this.archive) && this.current.archive?.raw !== false;
  }

  /** Stop processing at once, without draining or closing anything: for a caller that gives up on this engine. */
  abort(): void {
    this.exchangePoll?.stop();
    for (const t of this.tasks) t.abort();
  }

  /** Drain, commit and close the store, logs, dead letters and archive. */
  /**
   * Crypto-shred a learner in the archive (an encrypted one: their data keys destroyed, an erasure record in
   * the next commit, their events before `record.before` never archived again). One partition only.
   */
  eraseFromArchive(req: ArchiveEraseRequest): Promise<ArchiveEraseResult> {
    if (this.tasks.length !== 1) return Promise.reject(new Error('archive erasure of a partitioned pipeline is not built yet'));
    // The archive part alone (`loflow erase` is Engine.erase: every place, the archive last).
    return this.tasks[0].feed.erase(req, false).then((o) => {
      if (o.status === 'erased') return o.detail;
      throw new Error('this pipeline has no archive that can erase');
    });
  }

  async stop(): Promise<void> {
    const first = this.tasks[0].consumer;
    if (first.stopping) return;
    // Fenced: the new owner processes what is left.
    if (first.started && !this.tasks.some((t) => t.consumer.fenced)) await this.flush();
    this.exchangePoll?.stop();
    await Promise.all(this.tasks.map((t) => t.halt()));
    await this.runner?.close();
    try {
      for (const t of this.tasks) await t.feed.close();
      // Partitioned: the parts are committed and closed; the archive links them in a last global commit.
      if (this.tasks.length > 1) await this.archive?.close();
    } finally {
      await Promise.all([this.store.close(), ...this.tasks.map((t) => t.ctx.log.close()), this.deadLetters.close()]);
      for (const t of this.tasks) for (const w of t.consumer.waiters.splice(0)) w();
    }
  }

  /**
   * Process the log from the committed offset up to `to` (exclusive), once: a call for a range already
   * committed does nothing. This is the step a durable batch workflow runs, also when it is resumed.
   */
  applyBatch(from: number, to: number): Promise<{ applied: number }> {
    // A runner is refused with P > 1 (see refusePartitioned): there is one log and one offset.
    return this.tasks[0].consumer.applyBatch(from, to);
  }

  /**
   * Hot reload of a stateless or state-compatible change: every reducer the two versions share must keep
   * its version (so no state changes meaning); reducers may be added (they start empty at the current
   * offset) or removed (their cached state is dropped; the store keeps it, stale). Applied between two
   * batches of each partition, so no batch sees half of each version; 'reload' is emitted once every
   * partition has it in effect.
   */
  swapPipeline(next: CompiledPipeline): void {
    const pipeline = this.current;
    if (next.name !== pipeline.name) throw new Error(`pipeline name changed ('${pipeline.name}' -> '${next.name}'): not a live change`);
    const [was, now] = [pipeline.partitions, next.partitions];
    if ((was?.count ?? 1) !== (now?.count ?? 1) || ((now?.count ?? 1) > 1 && was?.by !== now?.by)) {
      throw new Error(`partitions changed (${was?.count ?? 1} by ${was?.by ?? '-'} -> ${now?.count ?? 1} by ${now?.by ?? '-'}): states live in their partitions, so this is not a live change`);
    }
    const versions = new Map(next.reducers.map((r) => [r.name, r.version]));
    const changed = pipeline.reducers.filter((r) => versions.has(r.name) && versions.get(r.name) !== r.version).map((r) => r.name);
    if (changed.length) throw new Error(`reducers changed (${changed.join(', ')}): a live swap keeps state, so it only takes stateless or state-compatible changes (run \`loflow plan\` to see why)`);
    this.requested = next;
    for (const t of this.tasks) t.swap(next);
  }

  /** A task applied a swap: once all have, it is in effect. */
  private applied(): void {
    const next = this.requested;
    if (!next || !this.tasks.every((t) => t.ctx.pipeline === next)) return;
    this.requested = null;
    this.current = next;
    this.ingestor.reconfigure(next);
    this.emit('reload', next);
  }

  /**
   * `loflow erase` in this running engine (engine/erase/erase-live.ts): the learner's states, cached states,
   * logged events, dead letters and outbox events, between two batches; then the archive. `record` is
   * what the archive commits (no plain id). P = 1 only (the partitioned erasure is docs/scale-out.md §10.3).
   */
  erase(learner: string, opts: { dryRun: boolean; record: ArchiveEraseRequest['record'] }): Promise<LiveErasure> {
    if (this.tasks.length > 1) return Promise.reject(new Error('erasure of a partitioned pipeline (partitions.count > 1) is not built yet (docs/scale-out.md §10.3)'));
    return eraseLive(this.tasks[0], this.ingestor.unknown, learnerMatch(this.current, learner), opts);
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
  memberViews(aggregation: string, member: string, params?: MemberViewParams): MemberViews {
    return this.query.memberViews(aggregation, member, params);
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
  results(): Results {
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

  /** Another process (an ingest node) appended to partition `n`'s log up to `end` (exclusive): process it. */
  logGrew(n: number, end: number): void {
    const t = this.tasks[n];
    if (!t) return;
    t.ctx.log.grew?.(end);
    const c = t.consumer;
    if (end <= c.logEnd) return;
    if (c.committed >= c.logEnd) c.progressAt = Date.now(); // idle until now: not stalled
    c.logEnd = end;
    c.kick();
  }

  /** Per partition: offsets, lease epoch and commit answers (per-partition metrics, read on scrape). */
  partitionStats(): PartitionStats[] {
    return this.tasks.map((t) => t.stats());
  }
}

/**
 * With P > 1, what this step does not partition yet (docs/scale-out.md §14): a durable log or a batch runner
 * (one offset for the whole log; the partition log is step 4) and the archive (per-partition chains are
 * step 8). Refused rather than run with a gap.
 */
function refusePartitioned(options: EngineOptions, count: number): void {
  const what = options.log ? `a ${options.log.kind} input log` : options.runner ? 'a durable batch runner' : options.archive && !options.archive.forPartition ? 'an unpartitioned archive (archive/partitioned-sink.ts is the partitioned one)' : null;
  if (what) throw new Error(`partitions.count ${count}: ${what} is not partitioned yet (docs/scale-out.md §14); run it with partitions.count 1, or without ${what}`);
}
