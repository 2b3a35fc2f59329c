// The contracts every part of loflow plugs into. Data flows one way:
// source -> router (keys, where) -> reducers -> cascades (emit) -> aggregations -> dashboards / archive.
// Plug-ins (operators, aggregators, stores, sinks) are plain typed objects, like multiformats' codecs.
import type { IdentityResolver } from './roster-identities.js';

/** A JSON value as it is stored and served. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** An event: one JSON object. Sources attach nothing hidden; what an operator sees is the object. */
export type LoEvent = Record<string, any>;

/** A JSON Schema (draft 2020-12) as a plain object. */
export type JsonSchema = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Operators (reducers) and aggregators
// ---------------------------------------------------------------------------------------------

/** What a reducer sees besides its state and the event. */
export interface ReduceContext {
  /** The shard key value of this state (composite keys are joined with '|'). */
  readonly key: string;
  /** Event time in ms since the epoch: the reducer's `time` path, else the event's `ts`, else arrival. */
  readonly time: number;
  /** Cascade: send a derived event to the reducer's `emit` stream (ignored when it has none). */
  emit(event: LoEvent): void;
  /** Send an event that arrived too late for a window to the reducer's `late` stream (counted when it has none). */
  late(event: LoEvent): void;
}

/**
 * A reducer operator: one small file in operators/. `reduce` must be pure and synchronous
 * (the runtime batches state I/O around it) and may return the same object it was given, mutated.
 */
export interface Operator<S = any, P = any> {
  /** The name used in pipeline files (`op: count`). */
  readonly name: string;
  /** One line for the operator reference. */
  readonly summary: string;
  /** JSON Schema of `params`; the compiler validates params with ajv and reports line:column. */
  readonly params: JsonSchema;
  /** Turn validated params into what reduce uses (compile paths once). Defaults to identity. */
  prepare?(params: any): P;
  /** The state of a key that has seen no event. */
  init(params: P): S;
  /** Fold one event into the state. Throwing marks this event as failed for this reducer only. */
  reduce(state: S, event: LoEvent, ctx: ReduceContext, params: P): S;
  /** Combine two states (a monoid), for partial aggregates across partitions. */
  merge?(a: S, b: S, params: P): S;
  /**
   * The JSON value that aggregations, dashboards and `replay` show; defaults to the state itself.
   * `now` is the pipeline's event-time clock (the highest event time processed so far), so views such
   * as "idle for 5 minutes" are deterministic on replay. A merged view (a student's documents on one row)
   * is made again only when one of its states changed, or, if the function declares the `now` parameter,
   * when the clock moved: a view that reads the clock must declare it (not read it through `arguments`).
   */
  view?(state: S, params: P, now: number): Json;
  /** JSON Schema of the events this operator emits (lets the compiler check consumers' paths). */
  readonly emits?: JsonSchema;
  /**
   * JSON Schema of what `view` returns (the state itself without a view): lets the compiler check the
   * fields dashboards and aggregations read (`score.mean`), which would otherwise show as empty columns.
   * Objects without `additionalProperties` are closed; `{}` (or none) is not checked.
   */
  readonly viewSchema?: JsonSchema;
  /** A YAML example of the reducer entry, shown in the operator reference. */
  readonly example: string;
}

/** Combines one metric across the members of a group (e.g. students of a class) into one value. */
export interface Aggregator<P = any> {
  readonly name: string;
  readonly summary: string;
  readonly params: JsonSchema;
  /** `values` are the metric of each member that has one (undefined members are left out). */
  aggregate(values: Json[], params: P): Json;
  readonly example: string;
}

// ---------------------------------------------------------------------------------------------
// The compiled pipeline (what the compiler hands the runtime)
// ---------------------------------------------------------------------------------------------

/** One compile or validation error, pointing at the pipeline file. */
export interface PipelineError {
  file: string;
  line: number; // 1-based
  column: number; // 1-based
  /** Dotted path inside the pipeline document, e.g. `reducers.bursts.op`. */
  path: string;
  message: string;
  hint?: string;
}

export interface CompiledSource {
  name: string;
  kind: 'http' | 'websocket' | 'file' | string;
  /** HTTP/WebSocket path or file path, as written. */
  path?: string;
  /** The event schema's name (`lo-event`) or file. */
  schema: string;
  /** Validate one event (its depth and size bounds, then its schema): null when valid, else a readable reason. */
  validate(event: unknown): string | null;
  /**
   * Why a valid event's time fields are implausible for an event arriving at `latest` (ms), or null: not
   * finite, before `min_event_time`, or past `latest` + `max_clock_skew` (see engine/event-limits.ts).
   * Absent: no time check (the test harness's stand-in sources for derived streams).
   */
  checkTime?(event: LoEvent, latest: number): string | null;
  /** How far past arrival an event time may be (`max_clock_skew`, ms); the clock is bounded by it too. */
  maxClockSkewMs?: number;
  /** Any other settings the source declared (limits, api_keys, ...). */
  options: Record<string, unknown>;
}

export interface Roster {
  name: string;
  /** The group (e.g. class) a member (e.g. student) belongs to. */
  groupOf(member: string): string | undefined;
  /** The members of a group, in roster order. */
  members(group: string): string[];
  groups(): string[];
  /** Any other column of a member's row (e.g. `teacher`, `name`). */
  column(member: string, column: string): string | undefined;
}

export interface CompiledKey {
  name: string;
  /** The key value of an event, or undefined when the event does not have it. */
  extract(event: LoEvent): string | undefined;
  /** For composite keys, the component key names in order; else [name]. */
  components: string[];
  /** JSON paths the key reads from an event. */
  paths?: string[];
  /**
   * Copy the fields this key reads from one event to another: a reducer's derived events carry its key
   * fields, so downstream reducers can be keyed the same way (a burst is still the student's).
   */
  copy?(from: LoEvent, to: LoEvent): void;
  /** For lookup keys: the roster and the key it looks up by. */
  lookup?: { roster: Roster; by: string; column: string };
}

export interface CompiledReducer {
  name: string;
  op: Operator;
  /** Prepared params (after op.prepare). */
  params: unknown;
  /** Streams (source names or emitted stream names) this reducer reads. */
  from: string[];
  key: CompiledKey;
  where?: (event: LoEvent) => boolean;
  /** A projection applied before reduce. */
  map?: (event: LoEvent) => LoEvent;
  /** Event time in ms, when the event has one. */
  time: (event: LoEvent) => number | undefined;
  emit?: string;
  late?: string;
  /** Hash of what the state folds: the reducer's definition and its upstream's versions (engine/state-version.ts). */
  version: string;
  /** 0 for reducers that read only sources; otherwise 1 + the highest level among producers it reads. */
  level: number;
  /**
   * Where it runs when the pipeline has several partitions (engine/compiler/partitions.ts): `local` when its
   * key holds the routing key, so all of a key's events are in one partition; `exchange` when its input would
   * have to be re-keyed across partitions; `rekey` when its key holds the routing key but it reads what an
   * exchange reducer emits (in the partition of that reducer's key): those items go back to the partition of
   * their routing value. Absent (pipelines built by hand): local.
   */
  placement?: Placement;
}

/** See CompiledReducer.placement. */
export type Placement = 'local' | 'exchange' | 'rekey';

/** The pipeline's `partitions:` (docs/scale-out.md §2). */
export interface CompiledPartitions {
  /** P: 1 when the pipeline has no `partitions:` section (today's behaviour and store key names). */
  count: number;
  /** The routing key's name (`student` by default); null when P = 1 and the pipeline has no such key. */
  by: string | null;
  /** The routing key's value of a raw event (undefined when the event has none). */
  route?(event: LoEvent): string | undefined;
}

export interface CompiledColumn {
  /** Output name in the row, e.g. `text.length` or an alias. */
  name: string;
  reducer: string;
  /** Path inside the reducer's view, e.g. ['length']; [] for the whole view. */
  field: string[];
}

export interface CompiledSummary {
  name: string;
  aggregator: Aggregator;
  params: unknown;
  /** The column whose values are aggregated (undefined for aggregators over whole rows). */
  of?: string;
  /** Only members whose row passes this filter take part. */
  where?: (row: Record<string, Json>) => boolean;
}

export interface CompiledAggregation {
  name: string;
  /** The group key (a lookup key such as `class`). */
  groupBy: CompiledKey;
  /** The member key the rows are about (the lookup's `by`, e.g. `student`). */
  member: string;
  columns: CompiledColumn[];
  summary: CompiledSummary[];
}

export interface DashboardSpec {
  name: string;
  aggregation: string;
  push: 'on_change' | 'interval';
  /** Milliseconds between two pushes to one subscriber at least. */
  minIntervalMs: number;
  options: Record<string, unknown>;
}

export interface ArchiveSpec {
  raw: boolean;
  derived: string[];
  /** Milliseconds between archive commits. */
  commitEveryMs: number;
  options: Record<string, unknown>;
}

export interface CompiledPipeline {
  name: string;
  /** Absolute path of the pipeline file ('' when compiled from a string). */
  file: string;
  /** The YAML text as written. */
  text: string;
  /** The parsed document (plain JSON) after defaults. */
  spec: Record<string, any>;
  /** sha2-256 hex of the canonical spec. */
  hash: string;
  sources: Map<string, CompiledSource>;
  keys: Map<string, CompiledKey>;
  rosters: Map<string, Roster>;
  /** Roster `aliases:` (Google id, email columns): an identity to its roster member id (engine/roster-identities.ts). */
  identities?: IdentityResolver;
  /** Every stream: sources and emitted streams, with who produces and who consumes it. */
  streams: Map<string, { name: string; producer: string | null; consumers: string[] }>;
  /** In a deterministic topological order (by level, then declaration order). */
  reducers: CompiledReducer[];
  aggregations: Map<string, CompiledAggregation>;
  dashboards: Map<string, DashboardSpec>;
  archive?: ArchiveSpec;
  /** Absent (pipelines built by hand): one partition. */
  partitions?: CompiledPartitions;
  /** The `retention:` section (engine/retention/policy.ts); absent: nothing expires. */
  retention?: RetentionPolicy;
}

/** How long each kind of data is kept (`retention:`); an absent field keeps that kind for good. */
export interface RetentionPolicy {
  /** Raw events (input logs, their archive keys), in ms of age by arrival time. */
  rawMs?: number;
  /** Derived streams in the archive (their `_other` keys), ms. */
  derivedMs?: number;
  /** Dead letters, ms. */
  deadLettersMs?: number;
  /** Reducer states are dropped once this day (YYYY-MM-DD, UTC) has passed. */
  statesUntil?: string;
}

// ---------------------------------------------------------------------------------------------
// State, input log, dead letters, archive: the runtime's ports
// ---------------------------------------------------------------------------------------------

/** Which state a record is: the runtime never builds store keys itself. */
export interface StateRef {
  pipeline: string;
  reducer: string;
  /** The reducer's definition hash (CompiledReducer.version). */
  version: string;
  /** The shard key value. */
  key: string;
}

/** What one micro-batch commits, atomically. */
export interface Commit {
  /** The pipeline whose offset this commit advances (a batch may write no state and still advance it). */
  pipeline: string;
  writes: Array<[StateRef, Json]>;
  /** The position in the input log up to which this commit has consumed events (exclusive). */
  offset: number;
  /** Derived events this batch produced for the archive, kept with its states until the archive has them. */
  outbox?: OutboxEntry;
  /** Drop this many of the oldest outbox entries (the archive has committed them durably). */
  outboxDone?: number;
  /** The pipeline's event-time clock after the batch (views read it: `idle`, `wpm`), for a restart. */
  clock?: number;
  /**
   * Where the batch started (its base): a store that compares it with its committed offset refuses a commit
   * computed from another base (CONFLICT) and recognises this very batch committed already (DONE: a lost
   * reply). Absent: a maintenance write (rebuild, fixtures) that sets the offset without that check.
   */
  from?: number;
  /** Dead letters of the batch, for a store that commits them with it (StateStore.commitsDeadLetters). */
  deadLetters?: DeadLetter[];
  /** The keys the batch changed, by reducer: a shared store publishes them for dashboard nodes (Redis: the chg stream). */
  changes?: Record<string, string[]>;
  /** Exchange edges (docs/scale-out.md §6): items for other partitions, written to this partition's `fwd` with the batch. */
  forward?: ForwardItem[];
  /** Exchange edges: the `rp:<source>` cursors this batch consumed, each compared-and-set like `from`/`offset`. */
  rp?: RpMove[];
  /** Exchange edges: items applied by this partition so far (raw and re-keyed), after this batch: `o`'s middle part. */
  apply?: number;
  /**
   * The batch's last input entry as it was read (its arrival time; null: no entry there), for a store that
   * keeps the input log beside the states (Redis): it refuses the commit (CONFLICT) when its log holds another
   * entry there or none. A retried commit must not land on a promoted replica that never had the entries the
   * batch was computed from (a failover, or a split's minority primary, dropped them).
   */
  check?: { offset: number; at: number | null };
}

/** An item re-keyed to another partition: for one exchange reducer, its key, the event after `where` and `map`. */
export interface ForwardItem {
  /** The target partition. */
  to: number;
  reducer: string;
  key: string;
  event: LoEvent;
  /** Arrival ms of the raw event it came from. */
  at: number;
  /** Identity: `<source partition>:<apply sequence after the batch>:<index in the batch's forwards>`. */
  o: string;
}

/** An item another partition re-keyed to this one (read from `rp:<source>`), for one exchange reducer and key. */
export interface InboundItem {
  source: number;
  /** Its stream id (the source's fwd entry id). */
  id: string;
  reducer: string;
  key: string;
  event: LoEvent;
  at: number;
  o: string;
}

/**
 * One partition's side of the exchange edges (docs/scale-out.md §6), given by a store that has them (Redis):
 * reads what other partitions re-keyed here beyond the committed cursors, and forwards this partition's
 * committed `fwd` items to their targets.
 */
export interface ExchangeLink {
  /** Items applied by the partition so far (raw and re-keyed), as committed. */
  readonly applied: number;
  /** fwd entries committed and not yet forwarded, as last seen (metrics). */
  readonly forwardPending: number;
  /** Forwarding is under way, pending or failed (to be retried): items may still be on their way out. */
  readonly busy: boolean;
  /** Load the committed cursors; starts forwarding what a previous owner committed and did not forward. */
  open(): Promise<void>;
  /**
   * Items beyond the committed cursors (about `max` in all), in (arrival, source, id) order, the cursor moves
   * they make, and whether a stream had more than was read.
   */
  read(max: number): Promise<{ items: InboundItem[]; moves: RpMove[]; more: boolean }>;
  /** Whether anything waits beyond the cursors; retries a forwarding that failed. */
  poll(): Promise<boolean>;
  /** A batch committed: cursors move; its forwards (if any) are copied to their targets. */
  committed(commit: Commit): void;
  close(): Promise<void>;
}

/** One `rp:<source>` stream's consumption by a batch: from the committed id `from` to `to` (both stream ids). */
export interface RpMove {
  source: number;
  from: string;
  to: string;
}

/** What a store says about a commit: applied now, or found applied already (the same batch, a lost reply). */
export type CommitAnswer = 'ok' | 'done';

/** One batch's derived events for the archive, by stream (see StateStore.outbox). */
export interface OutboxEntry {
  /** The batch's end offset (exclusive). */
  to: number;
  streams: Record<string, LoggedEvent[]>;
}

export interface StateStore {
  readonly kind: string;
  /** Read many states in one round trip; undefined where a state does not exist. */
  load(refs: readonly StateRef[]): Promise<Array<Json | undefined>>;
  /**
   * Write states and the consumed offset atomically (a replayed batch is then recognised by its offset).
   * A fenced store (Redis) answers 'done' for a batch committed already and throws code FENCED (another
   * process holds the partition's lease: nothing written) or CONFLICT (the base moved: nothing written).
   */
  commit(commit: Commit): Promise<CommitAnswer | void>;
  /** Exchange edges with P > 1 (docs/scale-out.md §6): partition `n` of `count` of `pipeline`; absent where not built. */
  exchangeLink?(pipeline: string, n: number, count: number): ExchangeLink;
  /**
   * Take ownership of the pipeline's partition before any commit (a lease in the store, renewed until close):
   * stores shared by processes fence a commit of any other owner. Resolves with the lease's epoch.
   */
  acquire?(pipeline: string): Promise<{ epoch: number }>;
  /** How many lease renewals failed so far (stores with leases), for metrics. */
  leaseRenewFailures?(): number;
  /** The store commits Commit.deadLetters with the batch (exactly once) instead of the dead-letter store. */
  readonly commitsDeadLetters?: boolean;
  /** The store publishes Commit.changes for other processes (Redis: the partition's chg stream, read by dashboard nodes). */
  readonly publishesChanges?: boolean;
  /** The offset of the last commit for this pipeline (0 when none). */
  offset(pipeline: string): Promise<number>;
  /** The event-time clock of the last commit that carried one (0 when none). Stores without it: a restarted
   * engine's clock starts again from the next event. */
  clock?(pipeline: string): Promise<number>;
  /** Every state of a pipeline (optionally one reducer), for `state ls` and rebuilds. */
  scan(pipeline: string, reducer?: string): AsyncIterable<[StateRef, Json]>;
  /** Delete the states of a reducer (all versions, or only `version`); returns how many were deleted. */
  drop(pipeline: string, reducer: string, version?: string): Promise<number>;
  /**
   * How many keys each reducer version holds, reading key names only (no state values): what `run`/`serve`
   * check before starting an edited pipeline. Stores without it are read with scan().
   */
  versions?(pipeline: string): Promise<Array<{ reducer: string; version: string; keys: number }>>;
  /** The pipeline that last ran against this store, file and YAML text (so a refusal can print a full plan). */
  lastPipeline?(pipeline: string): Promise<LastPipeline | undefined>;
  saveLastPipeline?(pipeline: string, last: LastPipeline): Promise<void>;
  /**
   * The outbox entries committed and not yet dropped, oldest first. A store that outlives the process keeps
   * them so that derived events a crash took from the archive writer's buffer are archived after a restart.
   */
  outbox?(pipeline: string): Promise<OutboxEntry[]>;
  /**
   * Composite shard keys (`student|doc`) of one reducer version that have `part` among their `|`-separated
   * parts, oldest last write first, for many queries in one round trip: how a restarted engine finds a
   * student's documents without a scan. The store indexes them at commit. Stores without it: composite
   * states are loaded only when an event touches them.
   */
  keysWithPart?(pipeline: string, queries: ReadonlyArray<{ reducer: string; version: string; part: string }>): Promise<string[][]>;
  /**
   * Remove one learner (`loflow erase`): every state whose shard key is the learner or a composite key with
   * it among its parts (every reducer, every version), their index entries, the learner's derived events in
   * the outbox and dead letters the store keeps. With `dryRun`, only counts. Fenced like a commit.
   */
  eraseLearner?(pipeline: string, learner: LearnerErasure, dryRun: boolean): Promise<StoreErasureCounts>;
  close(): Promise<void>;
}

/** What a store needs to find one learner's records (engine/erase/match.ts). */
export interface LearnerErasure {
  learner: string;
  /** Whether a (derived or dead-lettered) event is the learner's. */
  event(e: unknown): boolean;
  letter(l: DeadLetter): boolean;
}

/** What a store removed (or would remove) of one learner. */
export interface StoreErasureCounts {
  states: number;
  indexEntries: number;
  outboxEvents: number;
  deadLetters: number;
}

/** The pipeline that last ran against a state store. */
export interface LastPipeline {
  /** Absolute path of its file (relative roster paths resolve against it). */
  file: string;
  text: string;
}

/** One accepted event as kept in the input log. */
export interface LoggedEvent {
  /** Position in the log, 0-based, dense. */
  offset: number;
  stream: string;
  event: LoEvent;
  /** Arrival time (ms). */
  at: number;
}

/** Where accepted events are made durable before they are acknowledged. */
export interface InputLog {
  readonly kind: string;
  /**
   * Append events; resolves once they are durable. Returns the first offset assigned and how many events
   * were appended. An entry may name its
   * producer and sequence number: a log that supports it drops re-sent events (sequence not above the
   * producer's highest logged one), for at-least-once senders.
   */
  append(entries: Array<{ stream: string; event: LoEvent; at: number; producer?: string; seq?: number }>): Promise<{ first: number; count: number }>;
  /** Read up to `max` events starting at `from`. */
  read(from: number, max: number): Promise<LoggedEvent[]>;
  /** The next offset that append will assign. */
  end(): Promise<number>;
  /** Continue numbering at `offset` when the log is empty and a store has committed up to there. */
  startAt?(offset: number): void;
  /** Forget events below `offset` (they are committed and archived). */
  truncate?(offset: number): Promise<void>;
  /** Events below `offset` are committed: they may leave memory but must stay readable (the log is kept whole). */
  release?(offset: number): void;
  /** Another process (an ingest node) appended up to `end` (exclusive): reads reach those entries too. */
  grew?(end: number): void;
  /**
   * Replace every event `match` picks by a tombstone (engine/erase/tombstone.ts: same offset, nothing else),
   * in memory and on disk; returns how many (with `dryRun`, only counts). For `loflow erase`. `needle`: text
   * every matching event's JSON contains (a log may pre-filter with it).
   */
  erase?(match: (e: LoggedEvent) => boolean, dryRun: boolean, needle?: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Runs each micro-batch as a durable unit of work (a DBOS workflow): `run` resolves once the engine's
 * `applyBatch(from, to)` has committed, and a batch whose process died midway is resumed after a restart.
 */
export interface BatchRunner {
  readonly kind: string;
  /** Called by Engine.start before any batch: recovery of interrupted batches may call applyBatch from here on. */
  attach(pipeline: string, engine: { applyBatch(from: number, to: number): Promise<{ applied: number }> }): Promise<void>;
  /** Resolves with how many events the batch applied (0: nothing was there to apply). */
  run(pipeline: string, from: number, to: number): Promise<number>;
  close(): Promise<void>;
}

export interface DeadLetter {
  stream: string;
  event: unknown;
  reason: string;
  at: number;
  /** Which part refused it: 'ingest' (schema, size), 'key' (unknown student), 'reducer:<name>'. */
  stage: string;
}

export interface DeadLetterStore {
  put(letters: DeadLetter[]): Promise<void>;
  list(limit?: number): Promise<DeadLetter[]>;
  /** Remove and return letters (for `deadletter replay`). */
  take(limit?: number): Promise<DeadLetter[]>;
  count(): Promise<number>;
  /** Remove the letters `match` picks (`loflow erase`); returns how many (with `dryRun`, only counts). */
  erase?(match: (l: DeadLetter) => boolean, dryRun: boolean): Promise<number>;
  close(): Promise<void>;
}

/** Receives the raw and derived streams the pipeline's `archive` section names. */
export interface ArchiveSink {
  append(stream: string, events: LoggedEvent[] | LoEvent[]): void | Promise<void>;
  /** Link stream heads into a commit; returns the commit's CID as a string. */
  commit(): Promise<string>;
  /** Raw events up to this input offset are durably archived (-1: none); the log is kept beyond it. */
  durableOffset(): number;
  /** The highest (origin) offset of a stream in the last durable commit (-1: none). */
  durableThrough?(stream: string): number;
  /** Crypto-shred a learner in an encrypted archive (archive/writer.ts erase); refused for a plaintext one. */
  erase?(req: ArchiveEraseRequest): Promise<ArchiveEraseResult>;
  /** A partitioned archive (archive/partitioned-sink.ts): partition n's own sink; each task feeds its own. */
  forPartition?(n: number): ArchiveSink;
  close(): Promise<void>;
}

/** An archive erasure: the learner's plain id (never stored) and the record's fields. */
export interface ArchiveEraseRequest {
  learner: string;
  record: {
    by: string;
    reason: string;
    req?: string | null;
    /** ms (default now) */
    at?: number;
    /** The erase point: the learner's events with a lower origin offset go (default: past every event the writer took). */
    before?: number;
  };
}

export interface ArchiveEraseResult {
  pseudonym: string;
  /** CID of the loflow/erasure block the next commit links. */
  record: string;
  /** Data keys destroyed. */
  kids: string[];
  archivedEvents: number;
  pendingDropped: number;
}
