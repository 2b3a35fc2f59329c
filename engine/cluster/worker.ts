// `loflow serve --role worker` (docs/scale-out.md §5.1): a process that runs only the partitions it owns. Every
// tick (500 ms) it heartbeats and learns the live members (Redis TIME), computes the rendezvous table, frees
// the partitions targeted elsewhere after their current batch, takes free or expired ones targeted to it
// (cursor read atomically with the lease) and stops work on any whose lease may have expired by its own clock.
// Leases renew themselves every ttl/3 (lease.ts). Exactly once rests on commit.lua: the fence (token) and the
// cursor compare-and-set; this file only decides who should be working.
import { EventEmitter } from 'node:events';
import { partitionStoreName } from '../partition.js';
import { newCounters } from '../runtime/context.js';
import type { Durability } from '../state/durability.js';
import { leaseMs } from '../state/lease.js';
import type { RedisStateStore } from '../state/redis-store.js';
import type { CompiledPipeline, DeadLetterStore } from '../types.js';
import { assign } from './assignment.js';
import { Committer } from './committer.js';
import { Membership } from './membership.js';
import { OwnedPartition } from './owned-partition.js';

export interface WorkerOptions {
  durability: Durability;
  deadLetters: DeadLetterStore;
  batchSize?: number;
  /** Assignment tick (default 500 ms, env LOFLOW_WORKER_TICK_MS). */
  tickMs?: number;
  /** How often an idle partition's log end is read from Redis (default 50 ms). */
  followMs?: number;
  log?: (line: string) => void;
  /** The shared archive folder (pipelines with `archive:`): part writers per held partition, and the committer. */
  archiveDir?: string;
}

/** Why a partition stopped here: moved (graceful), lost (a renewal found another holder), expired (no renewal in time), fenced (a commit was refused). */
export type StopReason = 'moved' | 'lost' | 'expired' | 'fenced' | 'shutdown';

export class Worker extends EventEmitter {
  readonly id: string;
  readonly counters = newCounters();
  /** Rebalance counts for /metrics: partitions acquired, and stopped by reason. */
  readonly rebalances = { acquired: 0, moved: 0, lost: 0, expired: 0, fenced: 0, shutdown: 0 };
  /** Takeover times (s): a partition's time without a holder (Redis TIME) plus acquisition to first commit. */
  readonly takeovers: number[] = [];
  /**
   * Committed events this worker saw the store lose: a partition it held up to offset N, taken again from a
   * lower offset (a Redis primary failed over before its last commits reached the replica: durability local).
   */
  rolledBack = 0;
  /** Per partition this worker held, the highest offset it committed there. */
  private readonly highest = new Map<number, number>();
  readonly owned = new Map<number, OwnedPartition>();
  /** Partitions being acquired, started or stopped: not touched again until that is done. */
  private readonly busy = new Set<number>();
  private readonly count: number;
  private readonly membership: Membership;
  private readonly unknown = new Set<string>();
  private members: string[] = [];
  private tickTimer: NodeJS.Timeout | null = null;
  private followTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private readonly say: (line: string) => void;
  readonly committer: Committer | undefined;

  constructor(
    readonly pipeline: CompiledPipeline,
    readonly store: RedisStateStore,
    private readonly opts: WorkerOptions,
  ) {
    super();
    this.count = pipeline.partitions?.count ?? 1;
    this.id = store.owner;
    store.manualLeases = true;
    this.membership = new Membership(store.redis, pipeline.name, this.id, leaseMs());
    this.say = opts.log ?? ((l) => console.log(`loflow: worker ${this.id}: ${l}`));
    if (pipeline.archive && opts.archiveDir) this.committer = new Committer(store, pipeline, opts.archiveDir, this.say);
  }

  /** Join, take the first share, and keep rebalancing until stop(). */
  async start(): Promise<void> {
    await this.committer?.start();
    await this.tick();
    const tickMs = this.opts.tickMs ?? (Number(process.env.LOFLOW_WORKER_TICK_MS) || 500);
    this.tickTimer = setInterval(() => void this.tick(), tickMs);
    this.followTimer = setInterval(() => {
      for (const p of this.owned.values()) void p.follow();
    }, this.opts.followMs ?? 50);
  }

  /** Live members as of the last heartbeat. */
  get live(): readonly string[] {
    return this.members;
  }

  /** One assignment round; rounds never overlap (a slow Redis makes the next one wait, not pile up). */
  tick(): Promise<void> {
    // Every tick, even while a round waits on Redis (a blackholed link holds its commands until they time
    // out): a lease that may have expired by our clock (a pause, Redis unreachable) stops work now.
    this.dropExpired();
    this.ticking ??= this.round().finally(() => (this.ticking = null));
    return this.ticking;
  }

  private dropExpired(): void {
    for (const [n, p] of this.owned) if (!this.busy.has(n) && Date.now() > this.store.lease(p.tag).validUntil) void this.drop(n, 'expired');
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    this.dropExpired();
    try {
      this.members = await this.membership.beat([...this.owned.keys()]);
    } catch {
      return; // Redis unreachable: no new partitions; held ones stop when their leases may have expired
    }
    const target = assign(this.members, this.count);
    const moves: Array<Promise<void>> = [];
    for (let n = 0; n < this.count; n++) {
      if (this.busy.has(n)) continue;
      if (this.owned.has(n) && target[n] !== this.id) moves.push(this.release(n));
      else if (!this.owned.has(n) && target[n] === this.id) moves.push(this.acquire(n));
    }
    // Acquisitions are awaited (the next round sees them); graceful releases wait for a batch and run on.
    await Promise.all(moves);
  }

  private async acquire(n: number): Promise<void> {
    const tag = partitionStoreName(this.pipeline.name, n, this.count);
    this.busy.add(n);
    try {
      const t0 = Date.now();
      const r = await this.store.tryAcquire(tag);
      if (!('epoch' in r)) return; // still held (its owner is finishing a batch, or its lease has not expired yet)
      let p: OwnedPartition;
      try {
        p = await OwnedPartition.start(n, tag, r, t0, { pipeline: this.pipeline, store: this.store, deadLetters: this.opts.deadLetters, durability: this.opts.durability, counters: this.counters, batchSize: this.opts.batchSize ?? 4096, unknown: this.unknown, ...(this.opts.archiveDir ? { archive: { dir: this.opts.archiveDir, lock: `LOCK.${process.pid}` } } : {}) });
      } catch (err) {
        await this.store.releaseLease(tag).catch(() => undefined);
        this.say(`p${n}: could not start (${(err as Error).message}); freed`);
        return;
      }
      this.owned.set(n, p);
      this.rebalances.acquired++;
      this.store.lease(tag).onLost = () => void this.drop(n, 'lost');
      p.events.on('fenced', (err: Error) => {
        // Also when the partition is being dropped already (a zombie's batch in flight): the refusal is the proof.
        if (this.owned.get(n) !== p || this.busy.has(n)) {
          this.rebalances.fenced++;
          this.say(`p${n} FENCED: ${err.message}`);
        } else void this.drop(n, 'fenced', err);
      });
      const measured = () => {
        if (p.firstCommitAt === null) return false;
        this.takeovers.push((p.freeForMs + (p.firstCommitAt - p.acquiredAt)) / 1000);
        return true;
      };
      if (!measured()) p.events.once('batch', measured);
      this.say(`p${n} acquired (epoch ${r.epoch}, from offset ${r.committed}${r.freeForMs ? `, ${r.freeForMs} ms without a holder` : ''})`);
      // Said, not hidden: the store went back behind what this worker had committed there.
      const before = this.highest.get(n);
      if (before !== undefined && r.committed < before) {
        this.rolledBack += before - r.committed;
        this.say(`p${n} ROLLED BACK: the store's offset is ${r.committed}, but this worker had committed up to ${before}: ${before - r.committed} committed events (their states and log entries) were lost with a Redis node (failover with durability ${this.opts.durability}); producers must re-send them`);
      }
      this.highest.set(n, r.committed); // the store's offset is the truth from here (a loss is reported once)
    } catch {
      /* Redis unreachable: tried again next round */
    } finally {
      this.busy.delete(n);
    }
  }

  /** Targeted elsewhere: let the current batch commit, then free the lease so the new owner need not wait. */
  private async release(n: number, reason: StopReason = 'moved'): Promise<void> {
    const p = this.owned.get(n);
    if (!p || this.busy.has(n)) return;
    this.busy.add(n);
    try {
      await p.stop();
    } catch {
      /* the lease then expires by itself */
    } finally {
      this.owned.delete(n);
      this.busy.delete(n);
      this.rebalances[reason]++;
      this.remember(n, p.committed);
      this.say(`p${n} released (${reason}, committed ${p.committed})`);
    }
  }

  /** Ownership lost or in doubt: stop at once, forget the lease here (it may be someone else's now). */
  private async drop(n: number, reason: StopReason, err?: Error): Promise<void> {
    const p = this.owned.get(n);
    if (!p || this.busy.has(n)) return;
    this.busy.add(n);
    // Not ours from now on (/healthz, /metrics, heartbeats say so); `busy` keeps it from being re-acquired
    // until the drop has waited for what was in flight (up to the Redis command timeout over a dead link).
    this.owned.delete(n);
    this.rebalances[reason]++;
    this.say(`p${n} ${reason.toUpperCase()}${err ? `: ${err.message}` : ''}: stopped work on it`);
    try {
      await p.drop();
    } finally {
      this.remember(n, p.committed);
      this.busy.delete(n);
    }
  }

  private remember(n: number, committed: number): void {
    if (committed > (this.highest.get(n) ?? -1)) this.highest.set(n, committed);
  }

  /** Graceful stop: leave the members, finish and commit each partition's batch, free every lease. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.followTimer) clearInterval(this.followTimer);
    await this.ticking;
    await this.membership.leave();
    // A late 'fenced' during the stop is counted by drop; the rest go gracefully.
    await Promise.all([...this.owned.keys()].map((n) => this.release(n, 'shutdown')));
    while (this.busy.size) await new Promise((r) => setTimeout(r, 20));
    await this.committer?.stop(); // after this worker's last parts were published
  }

  /** Per owned partition, what /metrics and /healthz show. */
  partitionStats() {
    return [...this.owned.values()].map((p) => ({ ...p.task.stats(), epoch: p.epoch }));
  }
}
