// The archive feed: hands each batch's raw and archived derived events to the archive writer without waiting
// for it, re-feeds after a restart what the archive may lack (from the log and the store's outbox), and keeps
// the outbox of derived events the archive has not durably committed.
import { cutDeep, describeStructure, HARD_MAX_DEPTH, structureProblem } from '../event-limits.js';
import { liveEntries } from '../erase/tombstone.js';
import type { ArchiveOutcome } from '../erase/erase-parts.js';
import type { ArchiveEraseRequest, CompiledPipeline, DeadLetter, Json, LoggedEvent, OutboxEntry } from '../types.js';
import type { RuntimeContext } from './context.js';
import type { Item } from './routing.js';

/** Why an archive without per-learner keys refuses an erasure (its blocks are immutable and readable). */
export const ARCHIVE_CANNOT_ERASE = "archive erasure needs an encrypted archive (not built): this archive's blocks hold the learner's events readable and cannot be changed; every other place was erased";

/** Events the archive may lag behind processing before a batch waits for it. */
export const ARCHIVE_LAG_LIMIT = 200_000;

/** Events re-fed to the archive at a time after a restart. */
const REFEED_SLICE = 4_096;

/** The longest the re-feed after a restart waits for the backlog to be processed. */
const REFEED_WAIT_MS = 5_000;

/** Logged events grouped by stream, each group in log order (the archive takes one stream at a time). */
export function byStream(entries: LoggedEvent[]): Map<string, LoggedEvent[]> {
  const groups = new Map<string, LoggedEvent[]>();
  for (const e of entries) {
    const l = groups.get(e.stream);
    if (l) l.push(e);
    else groups.set(e.stream, [e]);
  }
  return groups;
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

export class ArchiveFeed {
  /** The derived streams the archive takes (the reducer stage collects their items; a swap updates it in place). */
  readonly archivedDerived: Set<string>;
  /** The first archive failure: the writer then takes nothing more until a restart re-feeds it (health says so). */
  failure: unknown = null;
  /** Events handed to the archive writer that it has not taken yet (stats().archiveBacklog). */
  backlog = 0;
  /** Starts the re-feed after a restart without waiting any longer for the catch-up (see open). */
  private refeedNow: (() => void) | undefined;
  /** Settles when the archive re-feed after a restart is done; batches' archive appends wait for it. */
  private gate: Promise<void> = Promise.resolve();
  /** The last append handed to the archive (settles when the writer has taken it). */
  private tail: Promise<void> = Promise.resolve();
  /** The store's outbox entries not yet dropped, oldest first: per stream, the entry's highest origin. */
  private readonly outboxed: Array<Record<string, number>> = [];

  constructor(private readonly ctx: RuntimeContext) {
    this.archivedDerived = new Set(ctx.pipeline.archive?.derived ?? []);
  }

  reconfigure(next: CompiledPipeline): void {
    this.archivedDerived.clear();
    for (const s of next.archive?.derived ?? []) this.archivedDerived.add(s);
  }

  /**
   * At start, before any batch: `committed` is the store's offset; `caughtUp` settles once the events logged
   * before the start are processed.
   */
  async open(committed: number, caughtUp: () => Promise<void> = () => Promise.resolve()): Promise<void> {
    // The outbox's entries are known before any batch commits (a commit drops the oldest by count); the
    // archive is re-fed in the background: being caught up does not wait for the archive.
    const outbox = this.usesOutbox() ? await this.ctx.store.outbox!(this.ctx.storeName) : [];
    for (const entry of outbox) this.outboxed.push(highestOrigins(entry));
    // The re-feed (up to commit_every of events: reading and parsing them again) starts once the backlog is
    // processed, so dashboards are current first; or after REFEED_WAIT_MS, or when batches would wait for it.
    let timer: NodeJS.Timeout | undefined;
    const now = new Promise<void>((resolve) => {
      this.refeedNow = resolve;
      timer = setTimeout(resolve, REFEED_WAIT_MS).unref();
    });
    const start = Promise.race([caughtUp().catch(() => undefined), now]).finally(() => {
      clearTimeout(timer);
      this.refeedNow = undefined;
    });
    // A failed re-feed keeps the gate shut: later appends fail too (logged), so the archive gets no gap, and
    // the log keeps every event past the archive's last commit for the next start.
    this.gate = start.then(() => this.refeed(outbox, committed));
    this.gate.catch((err: unknown) => {
      this.failure ??= err;
      this.ctx.events.emit('archive-error', err);
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

  /** Each part's archivable events, the others dead-lettered first (the appends then go in one tick, as before). */
  private async archivableParts(parts: Array<[string, LoggedEvent[]]>): Promise<Array<[string, LoggedEvent[]]>> {
    const letters: DeadLetter[] = [];
    const kept = parts.map(([s, l]): [string, LoggedEvent[]] => {
      const ok = this.archivable(s, l);
      for (const x of ok.letters) letters.push(x);
      return [s, ok.events];
    });
    if (letters.length) {
      // Dead-lettered before any append passes their offsets.
      await this.ctx.deadLetters.put(letters);
      this.ctx.counters.unarchived += letters.length;
      this.ctx.events.emit('archive-skipped', letters);
    }
    return kept.filter(([, l]) => l.length > 0);
  }

  private toArchive(stream: string, events: LoggedEvent[]): Promise<void> {
    // The count, not the events: a writer thread has its own copy, and this thread need not hold up to
    // ARCHIVE_LAG_LIMIT events (old-space garbage) until the thread has taken them.
    const n = events.length;
    this.backlog += n;
    // Through a variable the first step clears: the closures below share one context, and naming `events`
    // in any of them would keep the events until the last one ran.
    let held: LoggedEvent[] | null = events;
    // After the re-feed (see start): the writer must take the older events first.
    return (this.tail = this.gate
      .then(() => {
        const l = held!;
        held = null;
        return this.ctx.archive!.append(stream, l);
      })
      .then(
        () => {
          this.backlog -= n;
        },
        (err: unknown) => {
          // Raw events are still in a durable log (kept until archived) and are re-fed after a restart.
          this.backlog -= n;
          this.failure ??= err;
          this.ctx.events.emit('archive-error', err);
        },
      ));
  }

  archivesRaw(): boolean {
    return !!this.ctx.archive && this.ctx.pipeline.archive?.raw !== false;
  }

  /**
   * After a crash the archive may lack raw events that were processed (committed) but not yet in a durable
   * archive commit: the log still holds them (it is truncated only up to the archive's durable offset), so
   * they are appended again here. The archive skips offsets it already has.
   */
  private async refeed(outbox: OutboxEntry[], committed: number): Promise<void> {
    const archive = this.ctx.archive;
    if (this.archivesRaw()) {
      // Up to what was committed at the start: later batches append their own events behind the gate.
      const until = committed;
      let from = archive!.durableOffset() + 1;
      while (from < until) {
        const entries = await this.ctx.log.read(from, Math.min(REFEED_SLICE, until - from));
        if (entries.length === 0) break; // truncated before this version kept the log for the archive
        // Every stream's part in one tick, so no timed archive commit falls between them: the durable offset
        // is the highest raw offset, and a commit after only one stream's part would pass the other's.
        const parts = await this.archivableParts([...byStream(liveEntries(entries))]);
        await Promise.all(parts.map(([s, l]) => archive!.append(s, l)));
        from = entries[entries.length - 1].offset + 1;
        // In slices, yielding between them: the re-feed runs beside serving, and a file log's read parses on
        // this thread (50,000 events at a time held the event loop for ~0.1 s each).
        if (from < until) await new Promise((r) => setImmediate(r));
      }
    }
    // Derived events cannot be re-derived (the states have moved on): the store kept them with the states.
    for (const entry of outbox) {
      for (const [s, events] of await this.archivableParts(Object.entries(entry.streams))) await archive!.append(s, events);
    }
  }

  /**
   * Hand the batch to the archive without waiting for it: an archive commit (many fsync'ed blocks) must not
   * stall processing. Order is kept (the writer takes appends in order); raw events stay in the input log
   * until the archive has committed them durably (see truncatableTo), and a retried batch is recognised
   * by its offsets. Only when the archive falls far behind does processing wait for it.
   * Returns the batch's archived derived events, as logged events (for its outbox entry).
   */
  async feed(entries: LoggedEvent[], derivedForArchive: Map<string, Item[]>): Promise<Map<string, LoggedEvent[]>> {
    const derived = new Map<string, LoggedEvent[]>();
    if (!this.ctx.archive) return derived;
    const parts: Array<[string, LoggedEvent[]]> = this.ctx.pipeline.archive?.raw !== false ? [...byStream(entries)] : [];
    for (const [s, items] of derivedForArchive) {
      const l = items.map((it) => ({ offset: it.offset, stream: s, event: it.event, at: it.at }));
      derived.set(s, l);
      parts.push([s, l]);
    }
    let last: Promise<void> | undefined;
    for (const [s, l] of await this.archivableParts(parts)) last = this.toArchive(s, l);
    if (last && this.backlog > ARCHIVE_LAG_LIMIT) {
      this.refeedNow?.(); // the re-feed may still wait for the catch-up, which waits here
      await last;
    }
    return derived;
  }

  /**
   * Derived events handed to the archive are in its writer's memory until an archive commit; a store that
   * survives the process keeps them with the batch's states (its outbox) until then.
   */
  private usesOutbox(): boolean {
    return !!this.ctx.archive?.durableThrough && !!this.ctx.store.outbox && this.ctx.store.kind !== 'memory';
  }

  /** The outbox entry of a batch's archived derived events (undefined when none), and how many old ones to drop. */
  outboxOf(derived: Map<string, LoggedEvent[]>, to: number): { outbox?: OutboxEntry; outboxDone?: number } {
    if (!this.usesOutbox()) return {};
    let done = 0;
    const archive = this.ctx.archive!;
    while (done < this.outboxed.length && Object.entries(this.outboxed[done]).every(([s, o]) => o <= archive.durableThrough!(s))) done++;
    if (derived.size === 0) return done ? { outboxDone: done } : {};
    const streams: Record<string, LoggedEvent[]> = {};
    for (const [s, l] of derived) streams[s] = l;
    return { outbox: { to, streams }, ...(done ? { outboxDone: done } : {}) };
  }

  /** The batch's commit (with this outbox change) is in the store. */
  committed(outbox: { outbox?: OutboxEntry; outboxDone?: number }): void {
    if (outbox.outboxDone) this.outboxed.splice(0, outbox.outboxDone);
    if (outbox.outbox) this.outboxed.push(highestOrigins(outbox.outbox));
  }

  /** A commit whose reply was lost turned out applied: the store's outbox is the truth again. */
  async resync(): Promise<void> {
    if (!this.usesOutbox()) return;
    const entries = await this.ctx.store.outbox!(this.ctx.storeName);
    this.outboxed.splice(0, this.outboxed.length, ...entries.map(highestOrigins));
  }

  /** How far a durable log may be truncated after a commit at `to`: raw events are kept until archived durably. */
  truncatableTo(to: number): number {
    return this.archivesRaw() && this.ctx.log.kind !== 'memory' ? Math.min(to, this.ctx.archive!.durableOffset() + 1) : to;
  }

  /**
   * `loflow erase`'s archive part, after every event handed to the writer was taken (so the writer can drop
   * the learner's pending ones): the writer destroys the learner's keys and commits an erasure record.
   * An archive without per-learner keys cannot forget anyone: refused, said, never skipped silently.
   */
  async erase(req: ArchiveEraseRequest, dryRun: boolean): Promise<ArchiveOutcome> {
    const archive = this.ctx.archive;
    if (!archive) return { status: 'none' };
    if (!archive.erase) throw new Error(ARCHIVE_CANNOT_ERASE);
    if (dryRun) return { status: 'would-erase' };
    // After the appends handed to the writer before (it takes ops in order); later appends wait for it.
    const p = this.gate.then(() => archive.erase!(req));
    this.tail = this.tail.then(() => p.then(() => undefined, () => undefined));
    return { status: 'erased', detail: await p };
  }

  /** At stop, after the last batch: let the writer take what it was handed, commit and close it. */
  async close(): Promise<void> {
    const archive = this.ctx.archive;
    if (!archive) return;
    this.refeedNow?.(); // stopped before caught up: the archive still gets what it lacks
    await this.gate.catch(() => undefined);
    await this.tail;
    // A failed archive keeps its last commit; what it missed is in the log and the outbox for the next start.
    await archive.commit().catch((err: unknown) => this.ctx.events.emit('archive-error', err));
    await archive.close();
  }
}
