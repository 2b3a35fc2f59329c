// The runtime: one consumer loop over the input log, in micro-batches of consecutive offsets.
// Per batch and per reducer level, the states it touches are loaded in ONE store call, reduced in log order
// (derived events ordered by origin offset, then emission order), and all writes are committed with the
// batch's end offset in ONE store call. So per-key order is log order, and a store that commits writes and
// offset atomically makes state effects exactly-once across restarts.
import { EventEmitter } from 'node:events';
import { aggregateGroup, memberOfKey, relationOf, type AggregateResult, type CachedState } from './aggregate.js';
import { MemoryDeadLetterStore } from './deadletter/memory-deadletter.js';
import { cutDeep, DEFAULT_MAX_CLOCK_SKEW_MS, describeStructure, HARD_MAX_DEPTH, structureProblem } from './event-limits.js';
import { MemoryInputLog } from './log/memory-log.js';
import { MemoryStateStore } from './state/memory-store.js';
import { backlogFull, isUnavailable } from './unavailable.js';
import type {
  BatchRunner,
  ArchiveSink,
  CompiledKey,
  CompiledPipeline,
  CompiledReducer,
  DeadLetter,
  DeadLetterStore,
  InputLog,
  Json,
  LoEvent,
  LoggedEvent,
  OutboxEntry,
  ReduceContext,
  StateRef,
  StateStore,
} from './types.js';

export type { AggregateResult } from './aggregate.js';

/** Events the archive may lag behind processing before a batch waits for it. */
const ARCHIVE_LAG_LIMIT = 200_000;

export interface EngineOptions {
  store?: StateStore;
  log?: InputLog;
  deadLetters?: DeadLetterStore;
  archive?: ArchiveSink;
  /** Max events per micro-batch. */
  batchSize?: number;
  /** Max accepted-but-unprocessed events before ingest() waits (backpressure). */
  queueLimit?: number;
  /** Delay before retrying a batch whose store I/O failed (doubles up to 5 s). */
  retryMs?: number;
  /** Runs each micro-batch as a durable workflow (DBOS); without one, the engine runs batches itself. */
  runner?: BatchRunner;
  /** health() reports a stall when the committed offset has not moved for this long while events wait (default 30 s). */
  stallMs?: number;
}

/** How a caller that answers someone (the HTTP route) wants ingest to behave under trouble; default: wait. */
export interface IngestOptions {
  /** Wait at most this long for room in the backlog (queueLimit), then throw a BACKLOG_FULL error. */
  maxWaitMs?: number;
  /**
   * While the last batch failed on an unavailable store or log (and none has succeeded since), throw
   * UNAVAILABLE before appending, whatever the log: events are not acknowledged into a queue that cannot drain.
   */
  refuseWhileDown?: boolean;
}

export interface IngestResult {
  accepted: number;
  /** Accepted events the log already had from the same producer (re-sends): not processed again. */
  duplicates: number;
  rejected: Array<{ index: number; reason: string }>;
  /** Accepted events whose member no roster knows: kept and processed, but shown on no dashboard. */
  warnings: Array<{ index: number; reason: string }>;
  firstOffset: number;
}

export interface BatchInfo {
  from: number;
  to: number;
  events: number;
  ms: number;
  changed: Map<string, Set<string>>;
  changedGroups: Map<string, Set<string>>;
}

export interface EngineStats {
  ingested: number;
  rejected: number;
  processed: number;
  failed: number;
  emitted: number;
  committedOffset: number;
  logEnd: number;
  queueDepth: number;
  batches: number;
  lastBatchMs: number;
  retries: number;
  unknownMembers: number;
  /** Processed events the archive could not take (dead-lettered with stage 'archive'). */
  unarchived: number;
}

/** Logged events grouped by stream, each group in log order (the archive takes one stream at a time). */
function byStream(entries: LoggedEvent[]): Map<string, LoggedEvent[]> {
  const groups = new Map<string, LoggedEvent[]>();
  for (const e of entries) {
    const l = groups.get(e.stream);
    if (l) l.push(e);
    else groups.set(e.stream, [e]);
  }
  return groups;
}

/**
 * An event waiting for its consumers. `offset` is the raw event's own log offset, or for a derived event the
 * offset of the raw event it came from: so a raw LoggedEvent is its own item (no copy per event).
 */
interface Item {
  offset: number;
  event: LoEvent;
  at: number;
}

/** One routing of a level's input: the items that pass a `where`, with their keys, and the events whose key or map threw. */
interface Route {
  items: Item[];
  /** The distinct keys of the items, in order of first appearance. */
  distinct: string[];
  /** ids[i]: the index in `distinct` of items[i]'s key (so reducers look states up per key, not per event). */
  ids: Int32Array;
  failures: Array<{ event: LoEvent; at: number; message: string }>;
  /** Per event-time function of its reducers, each item's time (see timesOf). */
  times?: Map<CompiledReducer['time'], Float64Array>;
}

/**
 * Each item's event time for a reducer, or its arrival time when the event has none: computed once per route
 * and time function (reducers sharing a route usually share the default one), kept unboxed.
 */
function timesOf(route: Route, time: CompiledReducer['time']): Float64Array {
  let times = route.times?.get(time);
  if (!times) {
    const { items } = route;
    times = new Float64Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const t = time(items[i].event);
      times[i] = typeof t === 'number' && Number.isFinite(t) ? t : items[i].at;
    }
    (route.times ??= new Map()).set(time, times);
  }
  return times;
}

/**
 * Per reducer of a level, the index of its route: reducers reading the same streams with the same `where`,
 * key and map (the compiler shares equal filters) route the batch once. Level-local, like routing itself.
 */
function routeIndex(level: CompiledReducer[]): number[] {
  const firsts: CompiledReducer[] = [];
  return level.map((r) => {
    // A map makes a new event per reducer (an operator could change it): such reducers route alone.
    let i = r.map ? -1 : firsts.findIndex((f) => !f.map && f.where === r.where && f.key === r.key && f.from.length === r.from.length && f.from.every((s, j) => s === r.from[j]));
    if (i < 0) i = firsts.push(r) - 1;
    return i;
  });
}

/**
 * Route one input list for several routes (given by a reducer of each) in one pass: each route's items that
 * its `where` passes and that have a key, mapped when it has a map. One pass touches an event while it is in
 * the CPU cache, and routes with the same key extract it once per event (keys are pure functions of the event).
 */
function routeAll(rs: CompiledReducer[], input: Item[]): Route[] {
  // Sized for the whole input and cut to length at the end: no regrowth while filling.
  const routes: Route[] = rs.map(() => ({ items: new Array(input.length), distinct: [], ids: new Int32Array(input.length), failures: [] }));
  const indexes = rs.map(() => new Map<string, number>());
  const counts = new Int32Array(rs.length);
  const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
  for (let i = 0; i < input.length; i++) {
    const it = input[i];
    let keyOf: CompiledKey | undefined; // the key function `k` (or `error`) was computed with, for this event
    let k: string | undefined;
    let error: unknown;
    let failed = false;
    for (let j = 0; j < rs.length; j++) {
      const { where, key, map } = rs[j];
      const route = routes[j];
      let ev = it.event;
      if (where) {
        let pass: boolean;
        try {
          pass = where(ev);
        } catch {
          pass = false;
        }
        if (!pass) continue;
      }
      if (key !== keyOf) {
        keyOf = key;
        failed = false;
        try {
          k = key.extract(ev);
        } catch (err) {
          failed = true;
          error = err;
        }
      }
      if (failed) {
        route.failures.push({ event: it.event, at: it.at, message: message(error) });
        continue;
      }
      if (k === undefined) continue;
      if (map) {
        try {
          ev = map(ev);
        } catch (err) {
          route.failures.push({ event: it.event, at: it.at, message: message(err) });
          continue;
        }
      }
      const index = indexes[j];
      let id = index.get(k);
      if (id === undefined) index.set(k, (id = route.distinct.push(k) - 1));
      const n = counts[j]++;
      route.items[n] = ev === it.event ? it : { offset: it.offset, event: ev, at: it.at };
      route.ids[n] = id;
    }
  }
  routes.forEach((route, j) => (route.items.length = counts[j]));
  return routes;
}

export class Engine extends EventEmitter {
  pipeline: CompiledPipeline;
  readonly store: StateStore;
  readonly log: InputLog;
  readonly deadLetters: DeadLetterStore;
  readonly archive?: ArchiveSink;
  private readonly batchSize: number;
  private readonly queueLimit: number;
  private readonly retryMs: number;
  private readonly stallMs: number;
  /** When the committed offset last moved, or work arrived at an idle engine (for the stall check). */
  private progressAt = Date.now();

  /** reducer -> shard key -> state. The engine's working set; the store is written per batch. */
  private readonly cache = new Map<string, Map<string, CachedState>>();
  /** `${reducer}\0${aggregation}` -> member -> full keys (composite-keyed reducers only). Arrays, not Sets: a
   * member has a few keys (documents), and a Set per member costs ~150 bytes more. */
  private readonly memberIdx = new Map<string, Map<string, string[]>>();
  private readonly unknown = new Set<string>();
  private readonly levels: CompiledReducer[][] = [];
  /** Per level, each reducer's route index (see routeIndex). */
  private routeIds: number[][] = [];
  private readonly consumers = new Map<string, CompiledReducer[]>();
  /** Reducers by name (rebuilt by a live swap, between batches). */
  private readonly byName = new Map<string, CompiledReducer>();
  private readonly archivedDerived: Set<string>;

  private seq = 0;
  private now = 0;
  private committed = 0;
  private logEnd = 0;
  private running = false;
  private started = false;
  private starting: Promise<void> | null = null;
  private stopping = false;
  private pumping: Promise<void> | null = null;
  private batchLock: Promise<void> = Promise.resolve();
  /** Why an operator's init threw, by reducer and key (kept small: only failing keys are here). */
  private readonly initFailures = new Map<string, string>();
  private readonly runner?: BatchRunner;
  /** A live swap waiting for the batch in progress to finish. */
  private pendingSwap: CompiledPipeline | null = null;
  private batching = false;
  /** Events handed to the archive writer that it has not taken yet. */
  private archiveBacklog = 0;
  /** Settles when the archive re-feed after a restart is done; batches' archive appends wait for it. */
  private archiveGate: Promise<void> = Promise.resolve();
  /** The first archive failure: the writer then takes nothing more until a restart re-feeds it (health says so). */
  private archiveFailure: unknown = null;
  /** The last append handed to the archive (settles when the writer has taken it). */
  private archiveTail: Promise<void> = Promise.resolve();
  /** The end offset of a batch whose commit failed: it may have been applied (see committedMeanwhile). */
  private uncertainTo: number | null = null;
  /** The store's outbox entries not yet dropped, oldest first: per stream, the entry's highest origin. */
  private readonly outboxed: Array<Record<string, number>> = [];
  private waiters: Array<() => void> = [];
  private flushWaiters: Array<{ offset: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  private lastError: unknown = null;
  private readonly counters = { ingested: 0, rejected: 0, processed: 0, failed: 0, emitted: 0, batches: 0, lastBatchMs: 0, retries: 0, unarchived: 0 };

  constructor(pipeline: CompiledPipeline, options: EngineOptions = {}) {
    super();
    this.pipeline = pipeline;
    this.store = options.store ?? new MemoryStateStore();
    this.log = options.log ?? new MemoryInputLog();
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetterStore();
    this.archive = options.archive;
    this.batchSize = options.batchSize ?? 4096;
    this.queueLimit = options.queueLimit ?? 100_000;
    this.retryMs = options.retryMs ?? 100;
    this.stallMs = options.stallMs ?? 30_000;
    this.runner = options.runner;
    this.archivedDerived = new Set(pipeline.archive?.derived ?? []);
    for (const r of pipeline.reducers) {
      this.byName.set(r.name, r);
      (this.levels[r.level] ??= []).push(r);
      this.cache.set(r.name, new Map());
      for (const s of r.from) {
        const list = this.consumers.get(s) ?? [];
        list.push(r);
        this.consumers.set(s, list);
      }
    }
    this.routeIds = this.levels.map(routeIndex);
  }

  /** Recover: resume from the store's committed offset and process what the log holds beyond it. */
  start(): Promise<void> {
    // One start, however many callers (an ingest may arrive while the first start is still reading the store).
    this.starting ??= this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    this.started = true;
    this.committed = await this.store.offset(this.pipeline.name);
    // Views read the event-time clock (idle, wpm): restored before any batch, so commits never move it back.
    // A clock an outlier pushed far ahead before event times were bounded (see reduceAndCommit) is pulled back: else
    // every learner would stay idle for good.
    const clock = Math.min((await this.store.clock?.(this.pipeline.name)) ?? 0, Date.now() + this.maxSkew());
    if (clock > this.now) this.now = clock;
    this.log.startAt?.(this.committed);
    this.logEnd = Math.max(await this.log.end(), this.committed);
    // The outbox's entries are known before any batch commits (a commit drops the oldest by count); the
    // archive is re-fed in the background: being caught up does not wait for the archive.
    const outbox = this.usesOutbox() ? await this.store.outbox!(this.pipeline.name) : [];
    for (const entry of outbox) this.outboxed.push(highestOrigins(entry));
    // A failed re-feed keeps the gate shut: later appends fail too (logged), so the archive gets no gap, and
    // the log keeps every event past the archive's last commit for the next start.
    this.archiveGate = this.refeedArchive(outbox);
    this.archiveGate.catch((err: unknown) => {
      this.archiveFailure ??= err;
      this.emit('archive-error', err);
    });
    await this.runner?.attach(this.pipeline.name, this);
    this.running = true;
    this.kick();
  }

  /**
   * Validate events against the stream's source schema, append the valid ones to the input log (durable
   * when the log is), dead-letter the rest. Waits while too many accepted events are still unprocessed.
   */
  async ingest(stream: string, events: unknown[], at = Date.now(), producer?: { id: string; seq: number }, opts: IngestOptions = {}): Promise<IngestResult> {
    const source = this.pipeline.sources.get(stream);
    if (!source) {
      if (this.pipeline.streams.has(stream)) throw new Error(`'${stream}' is a derived stream: only sources take events`);
      throw new Error(`unknown source '${stream}' (sources: ${[...this.pipeline.sources.keys()].join(', ')})`);
    }
    if (!this.running) await this.start();
    if (opts.refuseWhileDown) this.refuseIfDown();
    if (this.logEnd - this.committed >= this.queueLimit) {
      await this.waitForRoom(opts.maxWaitMs);
      if (opts.refuseWhileDown) this.refuseIfDown(); // it may have gone down while we waited
    }
    // Sized for all events and cut to the accepted ones after the loop: no regrowth per 4,096-event batch.
    const accepted: Array<{ offset?: number; stream: string; event: LoEvent; at: number; producer?: string; seq?: number }> = new Array(events.length);
    let n = 0;
    const rejected: IngestResult['rejected'] = [];
    const warnings: IngestResult['warnings'] = [];
    const letters: DeadLetter[] = [];
    // Event times may run ahead of arrival by the source's skew. Against the later of the given arrival and
    // now: a replay passes archived (past) arrivals, and what was accepted live must be accepted again.
    const latest = Math.max(at, Date.now());
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      const reason = source.validate(event) ?? source.checkTime?.(event as LoEvent, latest) ?? null;
      if (reason !== null) {
        rejected.push({ index: i, reason });
        // A refused event may be too deep for the dead-letter store's JSON.stringify: kept cut at a safe depth.
        letters.push({ stream, event: cutDeep(event), reason, at, stage: 'ingest' });
        continue;
      }
      const unknownMember = this.unknownMember(event as LoEvent);
      if (unknownMember) warnings.push({ index: i, reason: unknownMember });
      // A producer's i-th event has sequence seq + i, so a re-sent batch maps to the same numbers.
      // Without a producer, the entry is shaped as a LoggedEvent: the memory log keeps it as one (no copy).
      accepted[n++] = producer ? { stream, event: event as LoEvent, at, producer: producer.id, seq: producer.seq + i } : { offset: -1, stream, event: event as LoEvent, at };
    }
    accepted.length = n;
    if (letters.length) await this.deadLetters.put(letters);
    let firstOffset = this.logEnd;
    let appended = 0;
    // Work arriving at an idle engine starts the stall clock afresh (an idle engine is not stalled).
    if (this.committed >= this.logEnd) this.progressAt = Date.now();
    if (accepted.length) {
      const r = await this.log.append(accepted);
      firstOffset = r.first;
      appended = r.count;
      this.logEnd = Math.max(this.logEnd, r.first + r.count);
    }
    this.counters.ingested += appended;
    // For `loflow tap`: only built when someone listens, so ingest pays nothing otherwise.
    if (appended && this.listenerCount('ingested') > 0) this.emit('ingested', stream, accepted.map((a) => a.event));
    this.counters.rejected += rejected.length;
    this.kick();
    return { accepted: accepted.length, duplicates: accepted.length - appended, rejected, warnings, firstOffset };
  }

  /** Throws UNAVAILABLE while the last batch attempt failed on an unavailable store or log and none has succeeded since. */
  private refuseIfDown(): void {
    if (this.lastError === null || !isUnavailable(this.lastError)) return;
    throw Object.assign(new Error(`not accepting events while processing fails: ${(this.lastError as Error).message ?? this.lastError}`), { code: 'UNAVAILABLE', cause: this.lastError });
  }

  /** Wait while the backlog is at queueLimit: forever (in-process callers), or up to maxWaitMs, then BACKLOG_FULL. */
  private async waitForRoom(maxWaitMs = Infinity): Promise<void> {
    const t0 = Date.now();
    while (this.logEnd - this.committed >= this.queueLimit && this.running) {
      const left = maxWaitMs - (Date.now() - t0);
      if (left <= 0) throw backlogFull(this.logEnd - this.committed, this.queueLimit, Date.now() - t0);
      let timer: NodeJS.Timeout | undefined;
      // A timed-out wait leaves its resolver in `waiters`: harmless, the next wake calls it.
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        if (left !== Infinity) timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** A reason when the event's member (student) is in no roster group of a lookup key. */
  private unknownMember(event: LoEvent): string | undefined {
    for (const { key, by } of this.lookupsOf(this.pipeline)) {
      const member = by.extract(event);
      if (member !== undefined && key.lookup!.roster.groupOf(member) === undefined) {
        this.unknown.add(member);
        return `unknown ${key.lookup!.by} '${member}': not in roster '${key.lookup!.roster.name}'; the event is kept and processed but shown on no '${key.name}' dashboard`;
      }
    }
    return undefined;
  }

  private lookups?: { pipeline: CompiledPipeline; list: Array<{ key: CompiledKey; by: CompiledKey }> };

  /** The pipeline's lookup keys, each with the key it looks up by: found once per pipeline, not per event. */
  private lookupsOf(pipeline: CompiledPipeline): Array<{ key: CompiledKey; by: CompiledKey }> {
    if (this.lookups?.pipeline !== pipeline) {
      const list: Array<{ key: CompiledKey; by: CompiledKey }> = [];
      for (const key of pipeline.keys.values()) {
        const by = key.lookup && pipeline.keys.get(key.lookup.by);
        if (by) list.push({ key, by });
      }
      this.lookups = { pipeline, list };
    }
    return this.lookups.list;
  }

  private skewOf?: { pipeline: CompiledPipeline; ms: number };

  /** The largest `max_clock_skew` of the pipeline's sources: the clock's bound past arrival (derived events have no source). */
  private maxSkew(): number {
    if (this.skewOf?.pipeline !== this.pipeline) {
      let ms = 0;
      for (const s of this.pipeline.sources.values()) ms = Math.max(ms, s.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
      this.skewOf = { pipeline: this.pipeline, ms };
    }
    return this.skewOf.ms;
  }

  /** Resolves when every event ingested so far is processed and committed. */
  flush(): Promise<void> {
    const target = this.logEnd;
    if (this.committed >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.flushWaiters.push({ offset: target, resolve, reject });
      this.kick();
    });
  }

  /**
   * The events the archive can take, and dead letters for the others: an event deeper than any writer can
   * encode (one logged before ingest bounded depth) would fail the append and stop the archive, and the
   * archive would later commit past it. Refused here, it is a dead letter with its reason, counted in
   * stats().unarchived (metric, /healthz); the archive goes on without it.
   */
  private archivable(stream: string, events: LoggedEvent[]): { events: LoggedEvent[]; letters: DeadLetter[] } {
    let kept: LoggedEvent[] | undefined;
    let letters: DeadLetter[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const problem = structureProblem(e.event, HARD_MAX_DEPTH, Infinity);
      if (problem === null) {
        kept?.push(e);
        continue;
      }
      kept ??= events.slice(0, i);
      const reason = `not archived (offset ${e.offset}): ${describeStructure(problem, HARD_MAX_DEPTH, Infinity, false)}, more than the archive can encode; it was processed`;
      (letters ??= []).push({ stream, event: cutDeep(e.event), reason, at: e.at, stage: 'archive' });
    }
    return { events: kept ?? events, letters: letters ?? [] };
  }

  /** Dead-letter events the archive cannot take (see archivable), before any append passes their offsets. */
  private async unarchivable(letters: DeadLetter[]): Promise<void> {
    await this.deadLetters.put(letters);
    this.counters.unarchived += letters.length;
    this.emit('archive-skipped', letters);
  }

  /** Each part's archivable events, the others dead-lettered first (the appends then go in one tick, as before). */
  private async archivableParts(parts: Array<[string, LoggedEvent[]]>): Promise<Array<[string, LoggedEvent[]]>> {
    const letters: DeadLetter[] = [];
    const kept = parts.map(([s, l]): [string, LoggedEvent[]] => {
      const ok = this.archivable(s, l);
      for (const x of ok.letters) letters.push(x);
      return [s, ok.events];
    });
    if (letters.length) await this.unarchivable(letters);
    return kept.filter(([, l]) => l.length > 0);
  }

  private toArchive(stream: string, events: LoggedEvent[]): Promise<void> {
    this.archiveBacklog += events.length;
    // After the re-feed (see start): the writer must take the older events first.
    return (this.archiveTail = this.archiveGate
      .then(() => this.archive!.append(stream, events))
      .then(
        () => {
          this.archiveBacklog -= events.length;
        },
        (err: unknown) => {
          // Raw events are still in a durable log (kept until archived) and are re-fed after a restart.
          this.archiveBacklog -= events.length;
          this.archiveFailure ??= err;
          this.emit('archive-error', err);
        },
      ));
  }

  private archivesRaw(): boolean {
    return !!this.archive && this.pipeline.archive?.raw !== false;
  }

  /**
   * After a crash the archive may lack raw events that were processed (committed) but not yet in a durable
   * archive commit: the log still holds them (it is truncated only up to the archive's durable offset), so
   * they are appended again here. The archive skips offsets it already has.
   */
  private async refeedArchive(outbox: OutboxEntry[]): Promise<void> {
    if (this.archivesRaw()) {
      // Up to what was committed at the start: later batches append their own events behind the gate.
      const until = this.committed;
      let from = this.archive!.durableOffset() + 1;
      while (from < until) {
        const entries = await this.log.read(from, Math.min(50_000, until - from));
        if (entries.length === 0) break; // truncated before this version kept the log for the archive
        // Every stream's part in one tick, so no timed archive commit falls between them: the durable offset
        // is the highest raw offset, and a commit after only one stream's part would pass the other's.
        const parts = await this.archivableParts([...byStream(entries)]);
        await Promise.all(parts.map(([s, l]) => this.archive!.append(s, l)));
        from = entries[entries.length - 1].offset + 1;
      }
    }
    // Derived events cannot be re-derived (the states have moved on): the store kept them with the states.
    for (const entry of outbox) {
      for (const [s, events] of await this.archivableParts(Object.entries(entry.streams))) await this.archive!.append(s, events);
    }
  }

  /**
   * Derived events handed to the archive are in its writer's memory until an archive commit; a store that
   * survives the process keeps them with the batch's states (its outbox) until then.
   */
  private usesOutbox(): boolean {
    return !!this.archive?.durableThrough && !!this.store.outbox && this.store.kind !== 'memory';
  }

  /** The outbox entry of a batch's archived derived events (undefined when none), and how many old ones to drop. */
  private outboxOf(derived: Map<string, LoggedEvent[]>, to: number): { outbox?: OutboxEntry; outboxDone?: number } {
    if (!this.usesOutbox()) return {};
    let done = 0;
    while (done < this.outboxed.length && Object.entries(this.outboxed[done]).every(([s, o]) => o <= this.archive!.durableThrough!(s))) done++;
    if (derived.size === 0) return done ? { outboxDone: done } : {};
    const streams: Record<string, LoggedEvent[]> = {};
    for (const [s, l] of derived) streams[s] = l;
    return { outbox: { to, streams }, ...(done ? { outboxDone: done } : {}) };
  }

  /** Stop processing at once, without draining or closing anything: for a caller that gives up on this engine. */
  abort(): void {
    this.running = false;
    this.stopping = true;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Drain, commit and close the store, log, dead letters and archive. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    if (this.started) await this.flush();
    this.stopping = true;
    this.running = false;
    await this.pumping;
    await this.batchLock;
    await this.runner?.close();
    try {
      if (this.archive) {
        await this.archiveGate.catch(() => undefined);
        await this.archiveTail;
        // A failed archive keeps its last commit; what it missed is in the log and the outbox for the next start.
        await this.archive.commit().catch((err: unknown) => this.emit('archive-error', err));
        await this.archive.close();
      }
    } finally {
      await Promise.all([this.store.close(), this.log.close(), this.deadLetters.close()]);
      for (const w of this.waiters.splice(0)) w();
    }
  }

  // ---------------------------------------------------------------------------------- processing

  private kick(): void {
    if (!this.running || this.pumping) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      this.applySwap();
      if (this.running && this.committed < this.logEnd) this.kick();
    });
  }

  private async pump(): Promise<void> {
    let delay = this.retryMs;
    while (this.running && this.committed < this.logEnd) {
      this.applySwap();
      try {
        if (this.runner) {
          // The workflow calls back into applyBatch; a batch it resumes after a crash goes through the same door.
          const from = this.committed;
          // A durable workflow costs database round trips: a large backlog (a restart's catch-up) goes in
          // fewer, larger batches (results do not depend on batch sizes).
          const size = this.logEnd - from > 4 * this.batchSize ? 4 * this.batchSize : this.batchSize;
          const applied = await this.runner.run(this.pipeline.name, from, Math.min(this.logEnd, from + size));
          // The store and log answered: not down (also when a batch turned out committed already, see
          // committedMeanwhile). Ingest refuses while lastError says otherwise.
          this.lastError = null;
          // Nothing there to apply (and no resumed batch moved the offset meanwhile): wait for the next append.
          if (applied === 0 && this.committed === from) break;
        } else {
          const entries = await this.log.read(this.committed, this.batchSize);
          if (entries.length === 0) break;
          await this.exclusive(() => this.processBatch(entries));
          this.lastError = null;
        }
        delay = this.retryMs;
      } catch (err) {
        // Store or log unavailable: nothing is lost (the log keeps the events); retry with back-off.
        this.lastError = err;
        this.counters.retries++;
        this.emit('retry', err);
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
      const entries = await this.log.read(start, to - start);
      if (entries.length === 0) return { applied: 0 };
      await this.processBatch(entries);
      return { applied: entries.length };
    });
  }

  /**
   * After a failed commit: did it reach the store after all? Then the batch is done (its states are read
   * from the store again, its outbox entry is there) and must not be applied twice. Throws while the store
   * cannot answer, so the batch waits.
   */
  private async committedMeanwhile(): Promise<boolean> {
    const stored = await this.store.offset(this.pipeline.name);
    if (stored < this.uncertainTo!) {
      this.uncertainTo = null;
      return false;
    }
    if (this.usesOutbox()) {
      const entries = await this.store.outbox!(this.pipeline.name);
      this.outboxed.splice(0, this.outboxed.length, ...entries.map(highestOrigins));
    }
    this.uncertainTo = null;
    this.counters.processed += stored - this.committed;
    this.committed = stored;
    this.wakeWaiters();
    return true;
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
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.batchLock.then(fn, fn);
    this.batchLock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async processBatch(entries: LoggedEvent[]): Promise<void> {
    if (this.uncertainTo !== null && (await this.committedMeanwhile())) return;
    this.applySwap(); // a batch resumed by the runner after a crash can run outside the pump
    const dirty = new Map<string, Set<string>>();
    this.batching = true;
    try {
      await this.reduceAndCommit(entries, dirty);
    } catch (err) {
      // The batch will be retried from the log: forget what it did to the cache, so the retry starts from
      // the committed states (reloaded from the store) and nothing is applied twice.
      for (const [name, keys] of dirty) {
        const states = this.cache.get(name)!;
        for (const k of keys) states.delete(k);
      }
      throw err;
    } finally {
      this.batching = false;
    }
  }

  private async reduceAndCommit(entries: LoggedEvent[], dirty: Map<string, Set<string>>): Promise<void> {
    const t0 = performance.now();
    const wall = Date.now();
    const skew = this.maxSkew();
    const from = entries[0].offset;
    const to = entries[entries.length - 1].offset + 1;
    const letters: DeadLetter[] = [];
    // Streams' pending items for this batch: raw events first, derived ones appended as levels run.
    const pending = new Map<string, Item[]>();
    const first = entries[0].stream;
    if (entries.every((e) => e.stream === first)) pending.set(first, entries.slice()); // the common case: one copy
    else {
      for (const e of entries) {
        let list = pending.get(e.stream);
        if (!list) pending.set(e.stream, (list = []));
        list.push(e);
      }
    }
    const derivedForArchive = new Map<string, Item[]>();

    for (let l = 0; l < this.levels.length; l++) {
      const level = this.levels[l];
      if (!level) continue;
      // Route: each reducer's (key, item) list in order, and the states to load.
      // cells[d]: the cached state of the route's distinct key d (one Map lookup per key and reducer).
      const routeOf = this.routeIds[l];
      const routes: Array<Route | undefined> = [];
      const routed: Array<{ r: CompiledReducer; route: Route; cells: Array<CachedState | undefined> }> = [];
      const toLoad: Array<{ r: CompiledReducer; key: string }> = [];
      // Each route's input (from its first reducer), then every input list routed in one pass for its routes.
      const byInput = new Map<Item[], number[]>();
      for (let j = 0; j < level.length; j++) {
        const id = routeOf[j];
        if (routeOf.indexOf(id) !== j) continue;
        const input = this.inputOf(level[j], pending);
        if (input.length === 0) continue;
        const ids = byInput.get(input);
        if (ids) ids.push(j);
        else byInput.set(input, [j]);
      }
      for (const [input, js] of byInput) {
        const out = routeAll(js.map((j) => level[j]), input);
        js.forEach((j, x) => (routes[routeOf[j]] = out[x]));
      }
      for (let j = 0; j < level.length; j++) {
        const r = level[j];
        const route = routes[routeOf[j]];
        if (!route) continue;
        // A key or map that throws on one event is that event's problem: dead-lettered, never a batch retry.
        for (const f of route.failures) {
          this.counters.failed++;
          letters.push({ stream: r.from.join(','), event: f.event, reason: `${r.name}: key or map failed: ${f.message}`, at: f.at, stage: `reducer:${r.name}` });
        }
        const { items, distinct } = route;
        if (items.length === 0) continue;
        const states = this.cache.get(r.name)!;
        const cells: Array<CachedState | undefined> = new Array(distinct.length);
        for (let d = 0; d < distinct.length; d++) {
          const cell = states.get(distinct[d]);
          cells[d] = cell;
          if (cell === undefined) toLoad.push({ r, key: distinct[d] });
        }
        routed.push({ r, route, cells });
      }
      if (toLoad.length) await this.loadStates(toLoad);

      // States changed earlier in this batch have t > seq0: only their first change is added to `changed`.
      const seq0 = this.seq;
      for (const { r, route, cells } of routed) {
        const { items, distinct, ids } = route;
        const times = timesOf(route, r.time);
        const states = this.cache.get(r.name)!;
        let changed = dirty.get(r.name);
        if (!changed) dirty.set(r.name, (changed = new Set()));
        const emitted: Item[] | undefined = r.emit ? [] : undefined;
        const late: Item[] | undefined = r.late ? [] : undefined;
        // The item being reduced. The closures read it, not numbers of their own: a number captured by a
        // closure is boxed on every assignment (an allocation per event and reducer).
        let cur = items[0];
        const ctx: { key: string; time: number; emit(e: LoEvent): void; late(e: LoEvent): void } = {
          key: '',
          time: 0,
          emit: (e) => {
            if (!emitted) return;
            r.key.copy?.(cur.event, e);
            // A derived event happens when the event that caused it happened (event time, deterministic).
            if (e.ts === undefined) e.ts = ctx.time;
            emitted.push({ offset: cur.offset, event: e, at: cur.at });
          },
          late: (e) => {
            if (late) late.push({ offset: cur.offset, event: e, at: cur.at });
            else letters.push({ stream: r.from.join(','), event: e, reason: `late event for reducer '${r.name}'`, at: cur.at, stage: `late:${r.name}` });
          },
        };
        for (let i = 0; i < items.length; i++) {
          const it = items[i];
          const id = ids[i];
          const key = distinct[id];
          // A key not cached when routed was loaded (or its init failed) since: looked up once.
          let cached = cells[id];
          if (cached === undefined) cached = cells[id] = states.get(key);
          if (!cached) {
            this.counters.failed++;
            letters.push({ stream: r.from.join(','), event: it.event, reason: `${r.name} (${r.op.name}): init failed: ${this.initFailures.get(`${r.name}\0${key}`)}`, at: it.at, stage: `reducer:${r.name}` });
            continue;
          }
          cur = it;
          const time = times[i];
          ctx.key = key;
          ctx.time = time;
          if (time > this.now) {
            // One event moves the clock every view reads (idle, wpm) at most to its arrival (or now) + skew:
            // ingest refuses later times, so this binds only for events logged before that check (or a
            // projected time) and never changes a replay of accepted events.
            const cap = (it.at > wall ? it.at : wall) + skew;
            this.now = time <= cap ? time : Math.max(this.now, cap);
          }
          try {
            cached.s = r.op.reduce(cached.s, it.event, ctx as ReduceContext, r.params);
            if (cached.t <= seq0) changed.add(key);
            cached.t = ++this.seq;
          } catch (err) {
            // One bad event for one reducer: counted, dead-lettered with the reason, the pipeline goes on.
            const error = err instanceof Error ? err.message : String(err);
            this.counters.failed++;
            letters.push({ stream: r.from.join(','), event: it.event, reason: `${r.name} (${r.op.name}): ${error}`, at: it.at, stage: `reducer:${r.name}` });
            this.emit('failure', { reducer: r.name, key, event: it.event, error });
          }
        }
        if (emitted && emitted.length) this.pushDerived(r.emit!, emitted, pending, derivedForArchive);
        if (late && late.length) this.pushDerived(r.late!, late, pending, derivedForArchive);
      }
    }

    // Hand the batch to the archive without waiting for it: an archive commit (many fsync'ed blocks) must not
    // stall processing. Order is kept (the writer takes appends in order); raw events stay in the input log
    // until the archive has committed them durably (see truncation below), and a retried batch is recognised
    // by its offsets. Only when the archive falls far behind does processing wait for it.
    const derived = new Map<string, LoggedEvent[]>();
    if (this.archive) {
      const parts: Array<[string, LoggedEvent[]]> = this.pipeline.archive?.raw !== false ? [...byStream(entries)] : [];
      for (const [s, items] of derivedForArchive) {
        const l = items.map((it) => ({ offset: it.offset, stream: s, event: it.event, at: it.at }));
        derived.set(s, l);
        parts.push([s, l]);
      }
      let last: Promise<void> | undefined;
      for (const [s, l] of await this.archivableParts(parts)) last = this.toArchive(s, l);
      if (last && this.archiveBacklog > ARCHIVE_LAG_LIMIT) await last;
    }

    const writes: Array<[StateRef, Json]> = [];
    const byName = this.byName;
    for (const [name, keys] of dirty) {
      const r = byName.get(name)!;
      const states = this.cache.get(name)!;
      for (const key of keys) {
        writes.push([{ pipeline: this.pipeline.name, reducer: name, version: r.version, key }, states.get(key)!.s]);
      }
    }
    // Dead letters first: a failure after the state commit must not retry (re-apply) a committed batch; a
    // failed commit retries the batch, and its letters may then be kept twice, never lost.
    if (letters.length) await this.deadLetters.put(letters);
    const outbox = this.outboxOf(derived, to);
    try {
      await this.store.commit({ pipeline: this.pipeline.name, writes, offset: to, clock: this.now, ...outbox });
    } catch (err) {
      // The commit may have been applied with its reply lost (a connection dropped after EXEC): the next
      // attempt asks the store's offset first (see processBatch).
      this.uncertainTo = to;
      throw err;
    }
    this.committed = to;
    if (outbox.outboxDone) this.outboxed.splice(0, outbox.outboxDone);
    if (outbox.outbox) this.outboxed.push(highestOrigins(outbox.outbox));
    this.lastError = null;
    // A durable log beside the in-memory state store is kept whole: a restart rebuilds the states by
    // replaying it. With an archive of raw events, the log is kept from the archive's last durable commit on
    // (see refeedArchive). An in-memory log dies with the process anyway: it is truncated as before.
    const rebuildsFromLog = this.store.kind === 'memory' && this.log.kind !== 'memory';
    try {
      if (rebuildsFromLog) this.log.release?.(to);
      else await this.log.truncate?.(this.archivesRaw() && this.log.kind !== 'memory' ? Math.min(to, this.archive!.durableOffset() + 1) : to);
    } catch (err) {
      // The batch is committed: a failed truncation only keeps events longer (the next batch truncates
      // further); retrying the batch would apply it twice.
      this.emit('retry', err);
    }

    const ms = performance.now() - t0;
    this.counters.processed += entries.length;
    this.counters.batches++;
    this.counters.lastBatchMs = ms;
    const changedGroups = this.changedGroups(dirty);
    this.emit('batch', { from, to, events: entries.length, ms, changed: dirty, changedGroups } satisfies BatchInfo);
    this.wakeWaiters();
  }

  /** A reducer's input items in deterministic order: by origin offset across its streams. */
  private inputOf(r: CompiledReducer, pending: Map<string, Item[]>): Item[] {
    if (r.from.length === 1) return pending.get(r.from[0]) ?? [];
    const lists = r.from.map((s) => pending.get(s)).filter((l): l is Item[] => !!l && l.length > 0);
    if (lists.length <= 1) return lists[0] ?? [];
    // Stable sort keeps emission order among items of the same origin.
    return lists.flat().sort((a, b) => a.offset - b.offset);
  }

  private pushDerived(stream: string, items: Item[], pending: Map<string, Item[]>, archive: Map<string, Item[]>): void {
    this.counters.emitted += items.length;
    const list = pending.get(stream);
    if (list) {
      // Several producers of one stream: keep the stream ordered by origin.
      for (const it of items) list.push(it);
      list.sort((a, b) => a.offset - b.offset);
    } else pending.set(stream, items.slice());
    if (this.archivedDerived.has(stream)) {
      const a = archive.get(stream) ?? [];
      for (const it of items) a.push(it);
      archive.set(stream, a);
    }
    if (this.listenerCount('emit') > 0) for (const it of items) this.emit('emit', stream, it.event);
  }

  private async loadStates(toLoad: Array<{ r: CompiledReducer; key: string }>): Promise<void> {
    const refs = toLoad.map(({ r, key }) => ({ pipeline: this.pipeline.name, reducer: r.name, version: r.version, key }));
    const loaded = await this.store.load(refs);
    for (let i = 0; i < toLoad.length; i++) {
      const { r, key } = toLoad[i];
      let s = loaded[i];
      if (s === undefined) {
        try {
          s = r.op.init(r.params);
        } catch (err) {
          // No state for this key: its events are dead-lettered with this reason (see the reduce loop).
          this.initFailures.set(`${r.name}\0${key}`, err instanceof Error ? err.message : String(err));
          continue;
        }
      }
      this.cache.get(r.name)!.set(key, { s, t: 0 });
      this.indexMember(r, key);
    }
  }

  private indexMember(r: CompiledReducer, key: string): void {
    for (const agg of this.pipeline.aggregations.values()) {
      const rel = relationOf(r, agg);
      if (rel.kind !== 'composite') continue;
      const member = memberOfKey(rel, key)!;
      const id = r.name + '\0' + agg.name;
      let idx = this.memberIdx.get(id);
      if (!idx) this.memberIdx.set(id, (idx = new Map()));
      const keys = idx.get(member);
      if (!keys) idx.set(member, [key]);
      else if (!keys.includes(key)) keys.push(key);
    }
  }

  private changedGroups(dirty: Map<string, Set<string>>): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const byName = this.byName;
    for (const agg of this.pipeline.aggregations.values()) {
      const roster = agg.groupBy.lookup?.roster;
      const groups = new Set<string>();
      for (const [name, keys] of dirty) {
        const rel = relationOf(byName.get(name)!, agg);
        if (rel.kind === 'none') continue;
        for (const key of keys) {
          if (rel.kind === 'group') groups.add(key);
          else {
            const g = roster?.groupOf(memberOfKey(rel, key)!);
            if (g !== undefined) groups.add(g);
          }
        }
      }
      if (groups.size) out.set(agg.name, groups);
    }
    return out;
  }

  /**
   * Hot reload of a stateless or state-compatible change: every reducer the two versions share must keep
   * its version (so no state changes meaning); reducers may be added (they start empty at the current
   * offset) or removed (their cached state is dropped; the store keeps it, stale). Applied between two
   * batches, so no batch sees half of each version; 'reload' is emitted once it is in effect.
   */
  swapPipeline(next: CompiledPipeline): void {
    if (next.name !== this.pipeline.name) throw new Error(`pipeline name changed ('${this.pipeline.name}' -> '${next.name}'): not a live change`);
    const now = new Map(next.reducers.map((r) => [r.name, r.version]));
    const changed = this.pipeline.reducers.filter((r) => now.has(r.name) && now.get(r.name) !== r.version).map((r) => r.name);
    if (changed.length) throw new Error(`reducers changed (${changed.join(', ')}): a live swap keeps state, so it only takes stateless or state-compatible changes (run \`loflow plan\` to see why)`);
    this.pendingSwap = next;
    if (!this.pumping && !this.batching) this.applySwap();
  }

  private applySwap(): void {
    const next = this.pendingSwap;
    if (!next) return;
    this.pendingSwap = null;
    this.pipeline = next;
    this.levels.length = 0;
    this.consumers.clear();
    this.byName.clear();
    for (const r of next.reducers) {
      this.byName.set(r.name, r);
      (this.levels[r.level] ??= []).push(r);
      if (!this.cache.has(r.name)) this.cache.set(r.name, new Map());
      for (const s of r.from) {
        const list = this.consumers.get(s) ?? [];
        list.push(r);
        this.consumers.set(s, list);
      }
    }
    this.routeIds = this.levels.map(routeIndex);
    for (const name of [...this.cache.keys()]) if (!this.byName.has(name)) this.cache.delete(name);
    // Aggregations may have changed: index the cached keys of composite-keyed reducers afresh.
    this.memberIdx.clear();
    for (const r of next.reducers) for (const key of this.cache.get(r.name)!.keys()) this.indexMember(r, key);
    this.archivedDerived.clear();
    for (const s of next.archive?.derived ?? []) this.archivedDerived.add(s);
    // Rosters may have changed: a member a roster now knows is no longer counted as unknown.
    const lookups = this.lookupsOf(next);
    for (const m of [...this.unknown]) if (lookups.every(({ key }) => key.lookup!.roster.groupOf(m) !== undefined)) this.unknown.delete(m);
    this.emit('reload', next);
  }

  // ---------------------------------------------------------------------------------- reading

  view(reducer: string, key: string): Json | undefined {
    const r = this.byName.get(reducer);
    const c = this.cache.get(reducer)?.get(key);
    if (!r || !c) return undefined;
    return r.op.view ? r.op.view(c.s, r.params, this.now) : (c.s as Json);
  }

  /** A key's raw state in the working set (what is committed): for rebuilds and the state-size metric. */
  stateOf(reducer: string, key: string): Json | undefined {
    return this.cache.get(reducer)?.get(key)?.s as Json | undefined;
  }

  keys(reducer: string): string[] {
    return [...(this.cache.get(reducer)?.keys() ?? [])];
  }

  aggregate(aggregation: string, group: string): AggregateResult {
    const agg = this.pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    return aggregateGroup(this.pipeline, agg, group, {
      cache: this.cache,
      memberIndex: (r, a) => this.memberIdx.get(r + '\0' + a),
      now: this.now,
    }, this.unknown.size);
  }

  /**
   * Load a group's (class's) states that the working set lacks, so its table shows every member: after a
   * restart the working set holds only the keys that events have touched since. One store read for the
   * member- and group-keyed states (the roster gives their keys); with composite keys (student|doc), one
   * read of the store's per-part index before it (stores without one: composite states stay as events load
   * them). Runs under the batch lock, so no batch sees half a load; a class is read once (see `warmed`).
   */
  async ensureLoaded(aggregation: string, group: string): Promise<void> {
    if (!this.toWarm(aggregation, group)) return; // the common case: no lock, no await
    await this.exclusive(async () => {
      const pipeline = this.pipeline.name;
      const want = this.toWarm(aggregation, group);
      if (!want) return;
      const loads: Array<{ r: CompiledReducer; states: Map<string, CachedState>; key: string; t: number }> = [];
      if (want.composite.length) {
        const lists = await this.store.keysWithPart!(pipeline, want.composite.map(({ r, member }) => ({ reducer: r.name, version: r.version, part: member })));
        want.composite.forEach(({ r, states, member, rel }, i) => {
          // Oldest write first: the newest gets the highest t, as before the restart (a non-mergeable
          // reducer shows a member's latest key); all stay below the t of anything reduced since.
          const keys = lists[i].filter((k) => memberOfKey(rel, k) === member);
          keys.forEach((key, j) => states.has(key) || loads.push({ r, states, key, t: j - keys.length }));
        });
      }
      for (const p of want.plain) loads.push({ ...p, t: 0 });
      const loaded = await this.store.load(loads.map(({ r, key }) => ({ pipeline, reducer: r.name, version: r.version, key })));
      const live = (l: { r: CompiledReducer; states: Map<string, CachedState> }) => this.cache.get(l.r.name) === l.states;
      loads.forEach((l, i) => {
        // A swap during the read may have removed the reducer (its working set is gone): skip it.
        if (!live(l) || l.states.has(l.key)) return;
        if (loaded[i] !== undefined) {
          l.states.set(l.key, { s: loaded[i], t: l.t });
          this.indexMember(l.r, l.key);
        } else if (l.t === 0) this.warmedOf(l.states).add(l.key); // nothing stored: not asked again
      });
      for (const c of want.composite) if (live(c)) this.warmedOf(c.states).add(`\0${c.rel.index}\0${c.member}`);
    });
  }

  /** Per reducer working set: keys read from the store and found absent, and composite members (`\0index\0member`)
   * whose keys were all read. A WeakMap on the working set: a reducer a swap removes and adds back starts afresh. */
  private readonly warmed = new WeakMap<Map<string, CachedState>, Set<string>>();

  private warmedOf(states: Map<string, CachedState>): Set<string> {
    let w = this.warmed.get(states);
    if (!w) this.warmed.set(states, (w = new Set()));
    return w;
  }

  /** What ensureLoaded would read for a group; undefined when nothing. */
  private toWarm(aggregation: string, group: string) {
    const agg = this.pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    const members = agg.groupBy.lookup?.roster.members(group) ?? [];
    const plain: Array<{ r: CompiledReducer; states: Map<string, CachedState>; key: string }> = [];
    const composite: Array<{ r: CompiledReducer; states: Map<string, CachedState>; member: string; rel: { kind: 'composite'; index: number } }> = [];
    for (const name of new Set(agg.columns.map((c) => c.reducer))) {
      const r = this.byName.get(name);
      const states = this.cache.get(name);
      if (!r || !states) continue;
      const rel = relationOf(r, agg);
      const warmed = this.warmed.get(states);
      if (rel.kind === 'member' || rel.kind === 'group') {
        for (const key of rel.kind === 'member' ? members : [group]) if (!states.has(key) && !warmed?.has(key)) plain.push({ r, states, key });
      } else if (rel.kind === 'composite' && this.store.keysWithPart) {
        for (const member of members) if (!warmed?.has(`\0${rel.index}\0${member}`)) composite.push({ r, states, member, rel });
      }
    }
    return plain.length || composite.length ? { plain, composite } : undefined;
  }

  groups(aggregation: string): string[] {
    const agg = this.pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    return agg.groupBy.lookup?.roster.groups() ?? [];
  }

  /** Every reducer's views by key (sorted) and every aggregation's groups: what `replay` prints. */
  results(): { reducers: Record<string, Record<string, Json>>; aggregations: Record<string, Record<string, AggregateResult>> } {
    const reducers: Record<string, Record<string, Json>> = {};
    for (const r of this.pipeline.reducers) {
      const out: Record<string, Json> = {};
      for (const key of this.keys(r.name).sort()) out[key] = this.view(r.name, key)!;
      reducers[r.name] = out;
    }
    const aggregations: Record<string, Record<string, AggregateResult>> = {};
    for (const name of this.pipeline.aggregations.keys()) {
      const out: Record<string, AggregateResult> = {};
      for (const g of this.groups(name)) out[g] = this.aggregate(name, g);
      aggregations[name] = out;
    }
    return { reducers, aggregations };
  }

  /** The pipeline's event-time clock: the highest event time processed. */
  clock(): number {
    return this.now;
  }

  /**
   * Not ok, with the reason: while the last batch attempt failed (being retried); when the committed offset
   * has not moved for stallMs while events wait (a stalled pipeline: `stalledMs` says for how long, 0 when
   * not); when the archive stopped. `storeDown`: ingest that asks for it (refuseWhileDown) is refused.
   */
  health(): { ok: boolean; error: string | null; storeDown: boolean; stalledMs: number } {
    const message = (e: unknown) => String((e as Error).message ?? e);
    const idleFor = Date.now() - this.progressAt;
    const stalledMs = this.committed < this.logEnd && idleFor >= this.stallMs ? idleFor : 0;
    const storeDown = this.lastError !== null && isUnavailable(this.lastError);
    if (this.lastError !== null) return { ok: false, error: message(this.lastError), storeDown, stalledMs };
    if (stalledMs) {
      return { ok: false, error: `stalled: the committed offset ${this.committed} has not moved for ${Math.round(stalledMs / 1000)} s while ${this.logEnd - this.committed} events wait`, storeDown, stalledMs };
    }
    // Processing goes on, but the archive takes nothing more: a restart re-feeds it from the log and the outbox.
    if (this.archiveFailure !== null) return { ok: false, error: `archive stopped: ${message(this.archiveFailure)}; restart to re-feed it`, storeDown, stalledMs };
    return { ok: true, error: null, storeDown, stalledMs };
  }

  private probing: Promise<string | null> | null = null;

  /**
   * health(), and when it knows of no store failure, whether the store answers now (within `timeoutMs`): an
   * idle engine touches no store, so without this a frozen or unreachable store would look healthy. One
   * probe at a time, however many callers.
   */
  async checkHealth(timeoutMs = 1000): Promise<ReturnType<Engine['health']>> {
    const h = this.health();
    if (h.storeDown || !this.started) return h;
    this.probing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
      try {
        await Promise.race([this.store.offset(this.pipeline.name), late]);
        return null;
      } catch (err) {
        return String((err as Error).message ?? err);
      } finally {
        clearTimeout(timer);
        this.probing = null;
      }
    })();
    const failed = await this.probing;
    return failed === null ? h : { ...h, ok: false, error: `state store not answering: ${failed}`, storeDown: true };
  }

  stats(): EngineStats {
    return {
      ...this.counters,
      committedOffset: this.committed,
      logEnd: this.logEnd,
      queueDepth: this.logEnd - this.committed,
      unknownMembers: this.unknown.size,
    };
  }
}

/** Per stream, the highest origin offset of an outbox entry. */
function highestOrigins(entry: OutboxEntry): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [s, l] of Object.entries(entry.streams)) {
    let max = -1;
    for (const e of l) if (e.offset > max) max = e.offset;
    out[s] = max;
  }
  return out;
}
