// A partition's lease (docs/scale-out.md §5.2): the fence that makes commit.lua refuse a zombie. Today one
// process takes the lease of its pipeline's only partition at start and renews it; the multi-worker step adds
// membership and assignment as further callers of acquire/renew/release, the scripts and keys stay.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { leaseKey, curKey } from './key-layout.js';
import { runScript } from './run-script.js';
import { processAlive } from '../process-alive.js';

/**
 * Lease length: env LOFLOW_LEASE_MS, default 3 s (a restart after a crash on another host waits at most this
 * long for it; on the same host a dead predecessor's lease is taken at once, see deadHere).
 */
export function leaseMs(): number {
  const ms = Number(process.env.LOFLOW_LEASE_MS);
  return Number.isFinite(ms) && ms >= 200 ? ms : 3000;
}

/** A worker id: `<host>-<pid>-<random>`, one per store connection (the random part tells a reused pid apart). */
export const newWorkerId = () => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

/**
 * True when `owner` is a worker id of this host whose process no longer exists. Only a single process's
 * start asks (a worker fleet's hosts may share a name, and waiting is what keeps them from taking each
 * other's partitions there): a wrong yes costs the holder its lease (its commits are FENCED), never data.
 */
export function deadHere(owner: string): boolean {
  const m = /^(.*)-(\d+)-[0-9a-f]{6}$/.exec(owner);
  if (!m || m[1] !== hostname()) return false;
  const pid = Number(m[2]);
  return pid !== process.pid && !processAlive(pid);
}

export interface Held {
  token: string;
  epoch: number;
  /** The committed cursor, read atomically with the takeover. */
  committed: number;
  /** How long (ms, Redis TIME) the partition had no live holder before this acquisition: 0 after a release or a first start. */
  freeForMs: number;
}

export class Lease {
  held: Held | null = null;
  /** The token of the last acquisition, kept after a release or drop: a late commit sends it and is FENCED. */
  lastToken: string | null = null;
  /**
   * Until when (this process's clock) the lease is surely still ours: the send time of the last successful
   * acquire or renew plus the ttl, minus a 500 ms margin (docs/scale-out.md §5.2). Past it, stop working.
   */
  validUntil = 0;
  /** Called once when a renewal answers LOST (someone else holds the lease). */
  onLost: (() => void) | null = null;
  /** Set when a renewal found another holder: the next commit is FENCED anyway; this says why earlier. */
  lost = false;
  /** Renewals that failed: Redis unreachable or slow, or the lease found taken (LOST). For metrics. */
  renewFailures = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly tag: string,
    readonly owner = newWorkerId(),
    private readonly ttl = leaseMs(),
  ) {}

  /**
   * Take the lease, waiting while another live holder has it (a predecessor killed without releasing holds it
   * for at most one lease length); past `waitMs` the start is refused, naming the holder.
   */
  async acquire(waitMs = this.ttl + 2000): Promise<Held> {
    if (this.held && !this.lost) return this.held;
    const deadline = Date.now() + waitMs;
    for (;;) {
      let r = await this.tryAcquire();
      if ('token' in r) return r;
      // A predecessor on this host whose process is gone (killed, crashed) renews nothing: no need to wait
      // for its lease to run out. Safe either way: its late commits carry its token and are FENCED.
      if (deadHere(r.owner)) {
        r = await this.tryAcquire(r.owner);
        if ('token' in r) return r;
      }
      const left = r.leftMs;
      if (Date.now() + Math.min(left, 500) > deadline) {
        throw Object.assign(new Error(`partition {${this.tag}} is owned by ${r.owner} for another ${left} ms: another loflow process is running this pipeline on this Redis (stop it first)`), { code: 'LEASE_HELD' });
      }
      await new Promise((res) => setTimeout(res, Math.min(left + 10, 500)));
    }
  }

  /** One attempt (a worker's assignment tick): the lease with the cursor read atomically, or who holds it. */
  async tryAcquire(deadOwner = ''): Promise<Held | { owner: string; leftMs: number }> {
    if (this.held && !this.lost) return this.held;
    const token = randomBytes(16).toString('hex');
    const sent = Date.now();
    const r = (await runScript(this.redis, 'lfAcquire', [leaseKey(this.tag), curKey(this.tag)], [this.owner, this.ttl, token, deadOwner])) as string[];
    if (r[0] !== 'OK') return { owner: r[1], leftMs: Number(r[2]) };
    const [prevOwner, prevUntil, now] = [r[3] ?? '', Number(r[4] ?? 0), Number(r[5] ?? 0)];
    this.held = { token, epoch: Number(r[1]), committed: Number(r[2]), freeForMs: prevOwner && prevOwner !== this.owner && prevUntil > 0 ? Math.max(0, now - prevUntil) : 0 };
    this.lastToken = token;
    this.lost = false;
    this.validUntil = sent + this.ttl - 500;
    this.renewEvery(Math.max(100, Math.floor(this.ttl / 3)));
    return this.held;
  }

  private renewEvery(ms: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      const held = this.held;
      if (!held) return;
      const sent = Date.now();
      runScript(this.redis, 'lfRenew', [leaseKey(this.tag)], [held.token, this.ttl]).then(
        (r) => {
          if ((r as string[])[0] !== 'LOST') {
            if (this.held === held) this.validUntil = Math.max(this.validUntil, sent + this.ttl - 500);
            return;
          }
          this.renewFailures++;
          if (this.held === held && !this.lost) {
            this.lost = true;
            this.onLost?.();
          }
        },
        () => void this.renewFailures++, // Redis unreachable: the next renewal tries again; a successor's commit fences us if it took over
      );
    }, ms);
    this.timer.unref();
  }

  /** Stop renewing and free the lease (when still ours). */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const held = this.held;
    this.held = null;
    if (held && !this.lost) await runScript(this.redis, 'lfRelease', [leaseKey(this.tag)], [held.token]).catch(() => undefined);
  }

  /** Forget the lease without touching Redis (we were fenced: it is someone else's). */
  drop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.held = null;
  }
}
