// The log consumer: one loop over the input log, in micro-batches of consecutive offsets, one batch at a time.
// A batch is reduced (Levels), handed to the archive (ArchiveFeed), and all its writes are committed with
// the batch's end offset in ONE store call. So per-key order is log order, and a store that commits writes and
// offset atomically makes state effects exactly-once across restarts.
import type { BatchRunner, Commit, DeadLetter, ExchangeLink, ForwardItem, InboundItem, Json, LoggedEvent, OutboxEntry, RpMove, StateRef } from '../types.js';
import { isErased, liveEntries } from '../erase/tombstone.js';
import type { ArchiveFeed } from './archive-feed.js';
import type { RuntimeContext } from './context.js';
import type { Levels } from './levels.js';
import type { QuerySide } from './query-side.js';
import type { StateCache } from './state-cache.js';
import type { BatchInfo } from './types.js';

export interface ConsumerOptions {
  batchSize: number;
  retryMs: number;
  runner?: BatchRunner;
  /** Applies a live swap waiting for the batch in progress (the Engine's). */
  applySwap: () => void;
}

/** A batch reduced into the cache whose commit did not answer: the next attempt sends this same commit. */
interface PendingBatch {
  commit: Commit;
  entries: LoggedEvent[];
  /** Items re-keyed here by other partitions (exchange edges) in this batch. */
  inbound: number;
  dirty: Map<string, Set<string>>;
  outbox: { outbox?: OutboxEntry; outboxDone?: number };
  t0: number;
}

/** A busy partition reads its exchange inbox at most this often unless told items wait (docs/scale-out.md §6). */
const INBOX_EVERY_MS = 20;

/** The pump gives the event loop a turn after this much work (ms), or after as long as the last turn took, up to MAX_SLICE_MS. */
const SLICE_MS = 10;
const MAX_SLICE_MS = 500;

/** The store refused the batch for good: another process owns the partition (FENCED), or its base moved (CONFLICT). */
const isFenced = (err: unknown) => ['FENCED', 'CONFLICT'].includes((err as { code?: string })?.code ?? '');

export class LogConsumer {
  /** The store's committed offset: every event below it is applied. */
  committed = 0;
  /** The log's end offset as far as this process knows (ingest moves it). */
  logEnd = 0;
  running = false;
  started = false;
  stopping = false;
  /** The last batch attempt's error, null once one succeeds (health, refuseWhileDown). */
  lastError: unknown = null;
  /** Arrival time of the oldest event read and not yet committed (loflow_partition_lag_seconds); none when caught up. */
  oldestAt: number | undefined;
  /** When the committed offset last moved, or work arrived at an idle engine (for the stall check). */
  progressAt = Date.now();
  /** Ingests waiting for room in the backlog. */
  waiters: Array<() => void> = [];
  pumping: Promise<void> | null = null;
  /** A pump start is scheduled for the end of this event-loop turn (see kick). */
  private kickPending = false;
  batchLock: Promise<void> = Promise.resolve();
  /** A batch is being reduced or committed (a live swap waits for it). */
  batching = false;
  /** A batch whose commit failed: it may have been applied (a lost reply); see finishPending. */
  private pending: PendingBatch | null = null;
  /** Set once the store fenced a commit: this process no longer owns the pipeline and stops processing it. */
  fenced: Error | null = null;
  /** This partition's commit answers (ctx.counters.commits sums every partition's): per-partition metrics. */
  readonly commits = { ok: 0, done: 0, fenced: 0, conflict: 0 };
  /** With exchange edges (P > 1, docs/scale-out.md §6): this partition's side (set by its PartitionTask). */
  exchange?: ExchangeLink;
  /** Other partitions forwarded items here that no batch has taken yet (set by a poll of the exchange). */
  inboundWaiting = false;
  /** When this partition last read its exchange inbox (see pump). */
  private inboxReadAt = 0;
  private flushWaiters: Array<{ offset: number; resolve: () => void; reject: (e: unknown) => void }> = [];

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly states: StateCache,
    private readonly stage: Levels,
    private readonly feed: ArchiveFeed,
    private readonly query: QuerySide,
    private readonly opts: ConsumerOptions,
  ) {}

  /** A batch's commit is unanswered (the store is down): it will be sent again as it is. */
  get hasPending(): boolean {
    return this.pending !== null;
  }

  /** Events past the committed offset, re-keyed items waiting (exchange edges), or a commit to send again. */
  private get hasWork(): boolean {
    return this.committed < this.logEnd || this.inboundWaiting || this.pending !== null;
  }

  /** Resolves when every event ingested so far is processed and committed. */
  flush(): Promise<void> {
    if (this.fenced) return Promise.reject(this.fenced); // never: this process no longer processes the pipeline
    const target = this.logEnd;
    if (this.committed >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.flushWaiters.push({ offset: target, resolve, reject });
      this.kick();
    });
  }

  /**
   * Start the pump at the end of this turn of the event loop, not now: every ingest callback of the turn
   * (thousands of socket reads under load) appends first, and one batch takes them all. Started at once,
   * each socket's few events were a batch of their own, paid its fixed cost, and held the turn so long that
   * timers (the dashboards' ticks) waited seconds.
   */
  kick(): void {
    if (!this.running || this.pumping || this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      if (!this.running || this.pumping) return;
      this.pumping = this.pump().finally(() => {
        this.pumping = null;
        this.opts.applySwap();
        if (this.running && this.hasWork) this.kick();
      });
    });
  }

  private async pump(): Promise<void> {
    const { runner, batchSize, retryMs } = this.opts;
    let delay = retryMs;
    let sliceAt = performance.now();
    let slice = SLICE_MS;
    while (this.running && this.hasWork) {
      // An in-memory log and store answer at once: without this the loop would drain a whole backlog in
      // microtasks, and no socket, timer or HTTP request would run until it is done. The slice stretches to
      // the time the rest of the turn took (ingest callbacks under load): processing keeps at least half
      // the core while a backlog waits, and ingest's backpressure does the rest.
      if (performance.now() - sliceAt > slice) {
        const away = performance.now();
        await new Promise((r) => setImmediate(r));
        sliceAt = performance.now();
        slice = Math.min(MAX_SLICE_MS, Math.max(SLICE_MS, sliceAt - away));
      }
      this.opts.applySwap();
      try {
        if (runner) {
          // The workflow calls back into applyBatch; a batch it resumes after a crash goes through the same door.
          const from = this.committed;
          // A durable workflow costs database round trips: a large backlog (a restart's catch-up) goes in
          // fewer, larger batches (results do not depend on batch sizes).
          const size = this.logEnd - from > 4 * batchSize ? 4 * batchSize : batchSize;
          const applied = await runner.run(this.ctx.pipeline.name, from, Math.min(this.logEnd, from + size));
          // The store and log answered: not down (also when a batch turned out committed already, see
          // finishPending). Ingest refuses while lastError says otherwise.
          this.lastError = null;
          // Nothing there to apply (and no resumed batch moved the offset meanwhile): wait for the next append.
          if (applied === 0 && this.committed === from) break;
        } else {
          const entries = this.committed < this.logEnd ? await this.ctx.log.read(this.committed, batchSize) : [];
          // Exchange edges: what other partitions re-keyed here, in the same batch (one commit moves every cursor).
          // Read when told something waits, else at most every 20 ms: a busy partition still takes its inbox,
          // without a round trip per batch.
          const look = this.exchange && !this.pending && (this.inboundWaiting || entries.length === 0 || Date.now() - this.inboxReadAt >= INBOX_EVERY_MS);
          const inbound = look ? await this.exchange!.read(batchSize) : { items: [], moves: [], more: false };
          if (look) {
            this.inboxReadAt = Date.now();
            this.inboundWaiting = inbound.more;
          }
          if (entries.length === 0 && inbound.items.length === 0 && !this.pending) break;
          await this.exclusive(() => this.processBatch(entries, inbound));
          this.lastError = null;
        }
        delay = retryMs;
      } catch (err) {
        if (this.fenced) break; // not ours any more: nothing to retry (see disown)
        // Store or log unavailable: nothing is lost (the log keeps the events); retry with back-off.
        this.lastError = err;
        this.ctx.counters.retries++;
        this.ctx.events.emit('retry', err);
        await new Promise((r) => setTimeout(r, delay));
        // At most 2 s (the Retry-After ingest answers meanwhile): HTTP ingest is refused until a retry succeeds.
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /**
   * Process the log from the committed offset up to `to` (exclusive), once: a call for a range already
   * committed does nothing. This is the step a durable batch workflow runs, also when it is resumed.
   */
  async applyBatch(from: number, to: number): Promise<{ applied: number }> {
    return this.exclusive(async () => {
      if (!this.started) throw new Error('engine not started');
      if (this.committed >= to) return { applied: 0 };
      const start = Math.max(from, this.committed);
      if (start > this.committed) throw new Error(`batch ${from}-${to} starts past the committed offset ${this.committed}`);
      const entries = await this.ctx.log.read(start, to - start);
      if (entries.length === 0) return { applied: 0 };
      await this.processBatch(entries);
      return { applied: entries.length };
    });
  }

  /**
   * Send the pending batch's commit: the same commit again after a failure, so a store with a base check
   * answers 'done' when the first attempt landed with its reply lost (the cache holds exactly the states
   * it wrote either way). Only FENCED / CONFLICT drop the batch, and with it this process's ownership.
   */
  private async finishPending(): Promise<void> {
    const p = this.pending!;
    let answer;
    try {
      answer = await this.ctx.store.commit(p.commit);
    } catch (err) {
      if (isFenced(err)) {
        this.pending = null;
        this.states.forget(p.dirty);
        this.disown(err as Error);
      }
      throw err;
    }
    this.pending = null;
    const result = answer === 'done' ? 'done' : 'ok';
    this.ctx.counters.commits[result]++;
    this.commits[result]++;
    await this.afterCommit(p);
  }

  /**
   * Another process holds the partition's lease (or moved its cursor): stop processing at once. Nothing of
   * the refused batch was written; the log keeps its events for the owner. Health reports it; ingest refuses.
   */
  private disown(err: Error): void {
    const result = (err as { code?: string }).code === 'CONFLICT' ? 'conflict' : 'fenced';
    this.ctx.counters.commits[result]++;
    this.commits[result]++;
    this.fenced = err;
    this.lastError = err;
    this.running = false;
    this.ctx.events.emit('fenced', err);
    for (const w of this.waiters.splice(0)) w();
    for (const f of this.flushWaiters.splice(0)) f.reject(err);
  }

  /** The committed offset moved: ingests waiting for room and flushes it covers go on. */
  private wakeWaiters(): void {
    this.progressAt = Date.now();
    for (const w of this.waiters.splice(0)) w();
    this.flushWaiters = this.flushWaiters.filter((f) => {
      if (f.offset <= this.committed) f.resolve();
      return f.offset > this.committed;
    });
  }

  /** Batches run one at a time, whoever starts them (the pump, or a workflow resumed after a crash). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.batchLock.then(fn, fn);
    this.batchLock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async processBatch(entries: LoggedEvent[], inbound: { items: InboundItem[]; moves: RpMove[] } = { items: [], moves: [] }): Promise<void> {
    if (this.pending) return this.finishPending();
    this.opts.applySwap(); // a batch resumed by the runner after a crash can run outside the pump
    const dirty = new Map<string, Set<string>>();
    if (entries.length) this.oldestAt = entries[0].at; // a batch starts at the committed offset
    this.batching = true;
    try {
      await this.reduceAndCommit(entries, inbound, dirty);
    } catch (err) {
      // Failed before its commit was sent: the batch will be retried from the log, so forget what it did to
      // the cache (the retry starts from the committed states, reloaded from the store). A commit sent and
      // unanswered stays pending instead: its cache states are what it may have written.
      if (this.pending === null) this.states.forget(dirty);
      throw err;
    } finally {
      this.batching = false;
    }
  }

  private async reduceAndCommit(entries: LoggedEvent[], inbound: { items: InboundItem[]; moves: RpMove[] }, dirty: Map<string, Set<string>>): Promise<void> {
    const { ctx } = this;
    const t0 = performance.now();
    // A batch of re-keyed items only (exchange edges) leaves the input cursor where it is.
    const from = entries.length ? entries[0].offset : this.committed;
    const to = entries.length ? entries[entries.length - 1].offset + 1 : this.committed;
    const letters: DeadLetter[] = [];
    // Erased events (tombstones, `loflow erase`) keep their offsets but are neither reduced nor archived.
    const live = liveEntries(entries);
    const forward: Array<Omit<ForwardItem, 'o'>> = [];
    const derivedForArchive = live.length || inbound.items.length ? await this.stage.reduce(live, dirty, letters, { items: inbound.items, offset: to }, forward) : new Map();
    // To the archive before the commit, without waiting for it (see ArchiveFeed.feed).
    const derived = await this.feed.feed(live, derivedForArchive);

    const writes: Array<[StateRef, Json]> = [];
    const byName = this.stage.byName;
    const cache = this.states.cache;
    for (const [name, keys] of dirty) {
      const r = byName.get(name)!;
      const states = cache.get(name)!;
      for (const key of keys) {
        writes.push([{ pipeline: ctx.storeName, reducer: name, version: r.version, key }, states.get(key)!.s]);
      }
    }
    // Dead letters: in the commit when the store takes them (exactly once); else first, so that a failure
    // after the state commit cannot retry (re-apply) a committed batch.
    const inCommit = ctx.store.commitsDeadLetters === true;
    if (letters.length && !inCommit) await ctx.deadLetters.put(letters);
    const outbox = this.feed.outboxOf(derived, to);
    const commit: Commit = { pipeline: ctx.storeName, writes, offset: to, from, clock: this.stage.now, ...outbox, ...(inCommit && letters.length ? { deadLetters: letters } : {}) };
    // A log kept beside the states (the partition's Redis stream) is checked by the commit: a retry must not
    // land on a promoted replica that lacks the entries this batch read (docs/scale-out.md §9 F6, F7).
    if (entries.length && ctx.log.kind === 'redis' && (ctx.log as { tag?: string }).tag === ctx.storeName) {
      const last = entries[entries.length - 1];
      commit.check = { offset: last.offset, at: isErased(last) && last.at === 0 ? null : last.at };
    }
    // Dashboard nodes learn what changed from the commit itself (stores that publish it: Redis's chg stream).
    if (ctx.store.publishesChanges === true && writes.length) commit.changes = changesOf(dirty);
    if (this.exchange) {
      // Identity of each forwarded item (docs/scale-out.md §6): source partition, apply sequence, index.
      const apply = this.exchange.applied + entries.length + inbound.items.length;
      const n = ctx.partition ?? 0;
      commit.apply = apply;
      if (inbound.moves.length) commit.rp = inbound.moves;
      if (forward.length) commit.forward = forward.map((f, i) => ({ ...f, o: `${n}:${apply}:${i}` }));
    }
    this.pending = { commit, entries, inbound: inbound.items.length, dirty, outbox, t0 };
    await this.finishPending();
  }

  /** The batch is in the store: move the cursor, release the log and tell the listeners. */
  private async afterCommit({ commit, entries, inbound, dirty, outbox, t0 }: PendingBatch): Promise<void> {
    const { ctx } = this;
    const from = commit.from ?? commit.offset;
    const to = commit.offset;
    this.committed = to;
    this.oldestAt = undefined;
    this.exchange?.committed(commit);
    this.feed.committed(outbox);
    this.lastError = null;
    // A durable log beside the in-memory state store is kept whole: a restart rebuilds the states by
    // replaying it. With an archive of raw events, the log is kept from the archive's last durable commit on
    // (see ArchiveFeed.refeed). An in-memory log dies with the process anyway: it is truncated as before.
    const rebuildsFromLog = ctx.store.kind === 'memory' && ctx.log.kind !== 'memory';
    try {
      if (rebuildsFromLog) ctx.log.release?.(to);
      else await ctx.log.truncate?.(this.feed.truncatableTo(to));
    } catch (err) {
      // The batch is committed: a failed truncation only keeps events longer (the next batch truncates
      // further); retrying the batch would apply it twice.
      ctx.events.emit('retry', err);
    }

    const ms = performance.now() - t0;
    ctx.counters.processed += entries.length + inbound;
    ctx.counters.batches++;
    ctx.counters.lastBatchMs = ms;
    const changedGroups = this.query.changedGroups(dirty);
    const info: BatchInfo = { from, to, events: entries.length + inbound, ms, changed: dirty, changedGroups };
    if (ctx.partition !== undefined) info.partition = ctx.partition;
    ctx.events.emit('batch', info);
    this.wakeWaiters();
  }
}

/** A batch's changed keys by reducer, as the commit publishes them. */
function changesOf(dirty: Map<string, Set<string>>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, keys] of dirty) if (keys.size) out[name] = [...keys];
  return out;
}
