// `loflow serve --role ingest` (docs/scale-out.md §4): a stateless node that validates a request's events
// exactly as the single process does (EventValidator: schemas, event time, identity, the unknown-member
// warning), routes each accepted event by the partition hash of its routing key (keyless: by producer id),
// appends them to the partitions' Redis streams through ingest.lua (RedisAppender: group-committed, producer
// re-sends dropped in the same slot) and answers only once Redis has them. Nothing is queued without bound:
// at most `maxInFlight` accepted events wait for Redis; past that a request waits up to its maxWaitMs and is
// then refused with BACKLOG_FULL (HTTP: 503 + Retry-After), and a Redis outage is UNAVAILABLE (503) at once.
import type { Cluster, Redis } from 'ioredis';
import { groupByPartition } from '../../compiler/partitions.js';
import { RedisAppender } from '../../log/redis-appender.js';
import type { EngineStats, IngestOptions, IngestResult } from '../../runtime.js';
import { EventValidator, sourceOf, type Accepted } from '../../runtime/validate-events.js';
import type { Durability } from '../../state/durability.js';
import { partitionTag } from '../../state/key-layout.js';
import type { CompiledPipeline, DeadLetterStore, StateStore } from '../../types.js';
import { backlogFull, isUnavailable } from '../../unavailable.js';
import { NodeEngine, nodeStats, redisAnswers, type Health } from './node-engine.js';

/** Default bound on accepted events waiting for Redis's answer (env LOFLOW_INGEST_MAX_IN_FLIGHT). */
export const DEFAULT_MAX_IN_FLIGHT = 50_000;

export interface IngestNodeOptions {
  redis: Redis | Cluster;
  durability: Durability;
  maxInFlight?: number;
}

export class IngestNode extends NodeEngine {
  private readonly appender: RedisAppender;
  private readonly validator = new EventValidator(new Set());
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly room: Array<() => void> = [];
  private counts = { ingested: 0, rejected: 0 };
  /** The last append's outage, until an append succeeds (health says why). */
  private lastError: unknown = null;
  private readonly redis: Redis | Cluster;

  constructor(pipeline: CompiledPipeline, store: StateStore, deadLetters: DeadLetterStore, opts: IngestNodeOptions) {
    // reusesRawJson: the HTTP parser keeps each event's own text, which ingest.lua stores as it arrived.
    super(pipeline, store, deadLetters, { kind: 'redis', reusesRawJson: true } as { kind: string });
    this.redis = opts.redis;
    const count = pipeline.partitions?.count ?? 1;
    this.appender = new RedisAppender(opts.redis, Array.from({ length: count }, (_, n) => partitionTag(pipeline.name, n, count)), opts.durability);
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  async ingest(stream: string, events: unknown[], at = Date.now(), producer?: { id: string; seq: number }, opts: IngestOptions = {}): Promise<IngestResult> {
    const pipeline = this.pipeline;
    sourceOf(pipeline, stream);
    const { accepted, rejected, warnings, letters } = this.validator.validate(pipeline, stream, events, at, producer);
    if (letters.length) await this.deadLetters.put(letters);
    this.counts.rejected += rejected.length;
    let appended = 0;
    if (accepted.length) {
      await this.reserve(accepted.length, opts.maxWaitMs);
      try {
        ({ appended } = await this.appender.append(this.route(accepted, producer?.id)));
        this.lastError = null;
      } catch (err) {
        if (isUnavailable(err)) this.lastError = err;
        throw err;
      } finally {
        this.inFlight -= accepted.length;
        for (const wake of this.room.splice(0)) wake();
      }
    }
    this.counts.ingested += appended;
    if (appended && this.listenerCount('ingested') > 0) this.emit('ingested', stream, accepted.map((a) => a.event));
    // firstOffset has no meaning across partitions written by many nodes: -1 (the HTTP answer does not show it).
    return { accepted: accepted.length, duplicates: accepted.length - appended, rejected, warnings, firstOffset: -1 };
  }

  /** Each accepted event to its partition (fnv1a32 of its routing value mod P; keyless: by producer id), in order. */
  private route(accepted: Accepted[], producer?: string): Map<number, Accepted[]> {
    const partitions = this.pipeline.partitions;
    if (!partitions || partitions.count === 1) return new Map([[0, accepted]]);
    return groupByPartition(partitions, accepted, producer);
  }

  /**
   * Take room for `n` more events in flight, waiting up to maxWaitMs (WebSocket: as long as it takes; its
   * socket is paused meanwhile). The check and the taking are one synchronous step: concurrent requests
   * cannot all pass the check before any of them counts.
   */
  private async reserve(n: number, maxWaitMs = Infinity): Promise<void> {
    const t0 = Date.now();
    // One request larger than the bound alone still goes (else it could never go); it waits for an empty pipe.
    for (;;) {
      if (this.inFlight === 0 || this.inFlight + n <= this.maxInFlight) {
        this.inFlight += n;
        return;
      }
      const left = maxWaitMs - (Date.now() - t0);
      if (left <= 0) throw backlogFull(this.inFlight, this.maxInFlight, Date.now() - t0);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.room.push(resolve);
        if (left !== Infinity) timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  health(): Health {
    const down = this.lastError !== null;
    return { ok: !down, error: down ? `redis unavailable: ${(this.lastError as Error).message}` : null, storeDown: down, stalledMs: 0 };
  }

  async checkHealth(timeoutMs = 1000): Promise<Health> {
    const up = await redisAnswers(() => this.redis.ping(), timeoutMs);
    if (up) return this.health();
    return { ok: false, error: 'redis does not answer', storeDown: true, stalledMs: 0 };
  }

  stats(): EngineStats {
    return nodeStats({ ingested: this.counts.ingested, rejected: this.counts.rejected, queueDepth: this.inFlight, unknownMembers: this.validator.unknown.size });
  }

  /** Wait for appends in flight; the connection is the store's (the caller closes it). */
  async stop(): Promise<void> {
    await this.appender.drain();
    await this.deadLetters.close();
  }
}
