// The runtime's public types (re-exported by engine/runtime.ts, where callers import them from).
import type { ArchiveSink, BatchRunner, DeadLetterStore, InputLog, StateStore } from '../types.js';

export interface EngineOptions {
  store?: StateStore;
  log?: InputLog;
  /** With P > 1: one durable log per partition (the Redis Streams of `--checkpoint redis`), in partition order. */
  partitionLogs?: InputLog[];
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
  /** The partition whose batch this is (offsets are that partition's); absent when the pipeline has one. */
  partition?: number;
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
  /** Processed events handed to the archive writer that it has not taken yet (past ARCHIVE_LAG_LIMIT, batches wait). */
  archiveBacklog: number;
  /** Commit answers (see Counters.commits). */
  commits: { ok: number; done: number; fenced: number; conflict: number };
  /** Dashboard nodes: partitions re-read whole after a gap in their chg stream. */
  resnapshots?: number;
}
