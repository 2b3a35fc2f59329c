// Ingest: validation against the source schemas, backpressure (queueLimit), refusal while processing is down,
// and the unknown-member warning; valid events are appended to the input log, the rest dead-lettered.
import { backlogFull, isUnavailable } from '../unavailable.js';
import { groupByPartition } from '../compiler/partitions.js';
import type { CompiledPipeline, InputLog } from '../types.js';
import type { LogConsumer } from './consumer.js';
import type { RuntimeContext } from './context.js';
import type { IngestOptions, IngestResult } from './types.js';
import { EventValidator, sourceOf, type Accepted } from './validate-events.js';


export class Ingestor {
  /** Partition 0's consumer: the only one when P = 1 (today's path, untouched by partitioning). */
  private readonly consumer: LogConsumer;
  private readonly validator: EventValidator;
  /**
   * Events past the room check whose append has not finished. Counted with the backlog: thousands of
   * sockets' ingests at once must not all pass a check made before any of them appended (the backlog
   * then overshot its limit several times over).
   */
  private admitted = 0;
  /** Ingests waiting for room, first come first served: progress wakes only those the room admits. */
  private readonly queue: Array<{ n: number; go: () => void; gone?: boolean }> = [];
  /** Entries of `queue` that timed out and are not cleared yet (not waiting: `waiting` leaves them out). */
  private timedOut = 0;
  /** Consumers whose next progress will call wake (their waiters list holds our waker). */
  private readonly registered = new Set<LogConsumer>();

  constructor(
    private readonly ctx: RuntimeContext,
    /** Members seen in events that no roster group knows (stats().unknownMembers, aggregations). */
    readonly unknown: Set<string>,
    /** Per partition, its consumer and input log (one when P = 1). */
    private readonly targets: ReadonlyArray<{ consumer: LogConsumer; log: InputLog }>,
    /** Accepted-but-unprocessed events (all partitions together) before ingest waits. */
    private readonly queueLimit: number,
    /** Engine.start: ingest into an engine not yet running starts it. */
    private readonly start: () => Promise<void>,
  ) {
    this.consumer = targets[0].consumer;
    this.validator = new EventValidator(unknown);
  }

  /** Accepted events not yet processed, over all partitions. */
  private backlog(): number {
    if (this.targets.length === 1) return this.consumer.logEnd - this.consumer.committed;
    let n = 0;
    for (const { consumer: c } of this.targets) n += c.logEnd - c.committed;
    return n;
  }

  /**
   * Validate events against the stream's source schema, append the valid ones to the input log (durable
   * when the log is), dead-letter the rest. Waits while too many accepted events are still unprocessed.
   */
  async ingest(stream: string, events: unknown[], at = Date.now(), producer?: { id: string; seq: number }, opts: IngestOptions = {}): Promise<IngestResult> {
    sourceOf(this.ctx.pipeline, stream);
    if (!this.consumer.running) await this.start();
    // Fenced: another process owns the pipeline now; what we appended here it may never see (a file log).
    if (this.consumer.fenced) throw Object.assign(new Error(`not accepting events: ${this.consumer.fenced.message}`), { code: 'UNAVAILABLE', cause: this.consumer.fenced });
    if (opts.refuseWhileDown) this.refuseIfDown();
    if (this.queue.length) this.wake(); // those ahead first (and timed-out ones cleared)
    if (this.queue.length || !this.hasRoom()) await this.waitForRoom(events.length, opts.maxWaitMs);
    else this.admitted += events.length;
    try {
      if (opts.refuseWhileDown) this.refuseIfDown(); // it may have gone down while we waited
      return await this.validateAndAppend(stream, events, at, producer);
    } finally {
      this.admitted -= events.length;
    }
  }

  /** Ingests waiting for room: sockets stop reading while any wait (their clients hold what they send). */
  get waiting(): number {
    return this.queue.length - this.timedOut;
  }

  private hasRoom(): boolean {
    return this.backlog() + this.admitted < this.queueLimit || !this.consumer.running;
  }

  private async validateAndAppend(stream: string, events: unknown[], at: number, producer?: { id: string; seq: number }): Promise<IngestResult> {
    const { accepted, rejected, warnings, letters } = this.validator.validate(this.ctx.pipeline, stream, events, at, producer);
    if (letters.length) await this.ctx.deadLetters.put(letters);
    let firstOffset = this.consumer.logEnd;
    let appended = 0;
    // Work arriving at an idle engine starts the stall clock afresh (an idle engine is not stalled).
    if (this.consumer.committed >= this.consumer.logEnd) this.consumer.progressAt = Date.now();
    if (this.targets.length > 1) ({ firstOffset, appended } = await this.appendPartitioned(accepted, producer?.id));
    else if (accepted.length) {
      const r = await this.ctx.log.append(accepted);
      firstOffset = r.first;
      appended = r.count;
      this.consumer.logEnd = Math.max(this.consumer.logEnd, r.first + r.count);
    }
    this.ctx.counters.ingested += appended;
    // For `loflow tap`: only built when someone listens, so ingest pays nothing otherwise.
    if (appended && this.ctx.events.listenerCount('ingested') > 0) this.ctx.events.emit('ingested', stream, accepted.map((a) => a.event));
    this.ctx.counters.rejected += rejected.length;
    this.consumer.kick();
    return { accepted: accepted.length, duplicates: accepted.length - appended, rejected, warnings, firstOffset };
  }

  /**
   * P > 1: each accepted event to its partition's log (fnv1a32 of its routing value mod P; an event without
   * one by its producer id, keeping one sender's keyless events in order), all partitions' appends at once.
   * `firstOffset` is then the first event's offset in its own partition's log.
   */
  private async appendPartitioned(accepted: Accepted[], producer?: string): Promise<{ firstOffset: number; appended: number }> {
    const partitions = this.ctx.pipeline.partitions!;
    const groups = groupByPartition(partitions, accepted, producer);
    let appended = 0;
    const firsts = await Promise.all(
      [...groups].map(async ([n, list]) => {
        const { consumer: c, log } = this.targets[n];
        if (c.committed >= c.logEnd) c.progressAt = Date.now();
        const r = await log.append(list);
        appended += r.count;
        c.logEnd = Math.max(c.logEnd, r.first + r.count);
        c.kick();
        return r.first;
      }),
    );
    return { firstOffset: firsts[0] ?? this.consumer.logEnd, appended };
  }

  /** Throws UNAVAILABLE while the last batch attempt failed on an unavailable store or log and none has succeeded since. */
  private refuseIfDown(): void {
    for (const { consumer: c } of this.targets) {
      if (c.lastError === null || !isUnavailable(c.lastError)) continue;
      throw Object.assign(new Error(`not accepting events while processing fails: ${(c.lastError as Error).message ?? c.lastError}`), { code: 'UNAVAILABLE', cause: c.lastError });
    }
  }

  /**
   * Wait, in arrival order, until the room admits this ingest (it is then counted in `admitted`): forever
   * (in-process callers), or up to maxWaitMs, then BACKLOG_FULL.
   */
  private waitForRoom(n: number, maxWaitMs = Infinity): Promise<void> {
    const t0 = Date.now();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const entry: { n: number; go: () => void; gone?: boolean } = {
        n,
        go: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      if (maxWaitMs !== Infinity)
        timer = setTimeout(() => {
          entry.gone = true; // skipped when its turn comes (no search through a long queue)
          this.timedOut++;
          reject(backlogFull(this.backlog(), this.queueLimit, Date.now() - t0));
        }, Math.max(0, maxWaitMs));
      this.queue.push(entry);
      this.listen();
    });
  }

  /** Progress on any partition: admit waiting ingests in order while there is room. */
  private wake(): void {
    let i = 0;
    for (; i < this.queue.length; i++) {
      const w = this.queue[i];
      if (w.gone) {
        this.timedOut--;
        continue;
      }
      if (!this.hasRoom()) break;
      this.admitted += w.n;
      w.go();
    }
    this.queue.splice(0, i);
    this.listen();
  }

  private listen(): void {
    if (!this.queue.length) return;
    for (const { consumer: c } of this.targets) {
      if (this.registered.has(c)) continue;
      this.registered.add(c);
      c.waiters.push(() => {
        this.registered.delete(c);
        this.wake();
      });
    }
  }

  /** A live swap: rosters may have changed, so a member a roster now knows is no longer counted as unknown. */
  reconfigure(next: CompiledPipeline): void {
    this.validator.reconfigure(next);
  }
}
