// Exchange edges on Redis (docs/scale-out.md §6): one partition's side. Its commits put items for other
// partitions into its `fwd` stream (commit.lua); this forwarder copies them to each target's `rp:<me>` under
// the fwd entry's own id (rpadd.lua: a repeat is refused by Redis, so a crash, retry or zombie copies each
// item at most once) and then moves `cur.fwd` fenced by the lease (fwddone.lua). The reader takes what other
// partitions forwarded here beyond the committed `rp:<M>` cursors, which commit.lua compares and sets.
// Durability `replicated` (docs/scale-out.md §9, F6c): nothing is copied before a replica of the source's
// primary has the commits that made it (WAIT 1 after reading them). Otherwise a failover could drop a commit
// whose items already left; its redo makes them again under new ids, and the target would apply them twice.
import type { Cluster, Redis } from 'ioredis';
import { partitionStoreName } from '../partition.js';
import type { Commit, ExchangeLink, InboundItem, RpMove } from '../types.js';
import { waitForReplica, type Durability } from './durability.js';
import { curKey, fwdKey, leaseKey, rpKey } from './key-layout.js';
import { runScript } from './run-script.js';

/** fwd entries per forwarding round (each round: one rpadd.lua per target, then one fwddone.lua). */
const FORWARD_SLICE = 1024;

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

/** Stream ids `ms-seq` compared as numbers. */
function idCompare(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

function fieldsOf(f: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < f.length; i += 2) o[f[i]] = f[i + 1];
  return o;
}

/**
 * Test hook (crash tests): LOFLOW_TEST_KILL_AT_FORWARD=before SIGKILLs this process right after a commit with
 * forwards, before any copy; =after, after a copy and before cur.fwd moves (the next owner repeats it).
 */
function killHook(at: 'before' | 'after'): void {
  if (process.env.LOFLOW_TEST_KILL_AT_FORWARD === at) process.kill(process.pid, 'SIGKILL');
}

export class RedisExchange implements ExchangeLink {
  applied = 0;
  forwardPending = 0;
  /** Items a forwarding round found copied already (a repeat: refused by the target stream). */
  refused = 0;
  private readonly cursors = new Map<number, string>();
  private readonly tag: string;
  private fwdCursor = '0-0';
  private forwarding: Promise<void> | null = null;
  private again = false;
  private failed = false;
  private closed = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly pipeline: string,
    readonly n: number,
    private readonly count: number,
    /** The partition lease's token while held (the fence of fwddone.lua). */
    private readonly token: () => string | undefined,
    private readonly durability: Durability = 'local',
  ) {
    this.tag = partitionStoreName(pipeline, n, count);
  }

  private get sources(): number[] {
    return Array.from({ length: this.count }, (_, m) => m).filter((m) => m !== this.n);
  }

  get busy(): boolean {
    return this.forwarding !== null || this.forwardPending > 0 || this.failed;
  }

  async open(): Promise<void> {
    const cur = await this.redis.hgetall(curKey(this.tag));
    this.applied = Number(cur.apply ?? 0);
    this.fwdCursor = cur.fwd ?? '0-0';
    for (const m of this.sources) this.cursors.set(m, cur[`rp:${m}`] ?? '0-0');
    void this.forward(); // a previous owner may have committed forwards it did not copy (a crash)
  }

  async read(max: number): Promise<{ items: InboundItem[]; moves: RpMove[]; more: boolean }> {
    const sources = this.sources;
    if (sources.length === 0) return { items: [], moves: [], more: false };
    // COUNT is per stream: about `max` in all. Every stream's items are a prefix past its cursor (never cut).
    const per = Math.max(16, Math.ceil(max / sources.length));
    const reply = (await this.redis.xread('COUNT', per, 'STREAMS', ...sources.map((m) => rpKey(this.tag, m)), ...sources.map((m) => this.cursors.get(m)!))) as StreamReply;
    const items: InboundItem[] = [];
    const moves: RpMove[] = [];
    let more = false;
    for (const [key, entries] of reply ?? []) {
      if (entries.length >= per) more = true; // a full read: that stream may hold more
      const source = Number(key.slice(key.lastIndexOf(':') + 1));
      if (entries.length === 0) continue;
      for (const [id, f] of entries) {
        const e = fieldsOf(f);
        items.push({ source, id, reducer: e.r, key: e.k, event: JSON.parse(e.e), at: Number(e.t), o: e.o });
      }
      moves.push({ source, from: this.cursors.get(source)!, to: entries[entries.length - 1][0] });
    }
    // Deterministic for a given batch (docs/scale-out.md §6 "Order"): arrival time, source partition, id.
    items.sort((a, b) => a.at - b.at || a.source - b.source || idCompare(a.id, b.id));
    return { items, moves, more };
  }

  async poll(): Promise<boolean> {
    if (this.failed || this.forwardPending > 0) void this.forward();
    const sources = this.sources;
    if (sources.length === 0) return false;
    const reply = (await this.redis.xread('COUNT', 1, 'STREAMS', ...sources.map((m) => rpKey(this.tag, m)), ...sources.map((m) => this.cursors.get(m)!))) as StreamReply;
    return (reply ?? []).some(([, entries]) => entries.length > 0);
  }

  committed(c: Commit): void {
    if (c.apply !== undefined) this.applied = c.apply;
    for (const m of c.rp ?? []) {
      this.cursors.set(m.source, m.to);
      // Applied: no longer needed. Trimmed, never deleted (the stream's last id keeps refusing repeats).
      const [ms, seq] = m.to.split('-');
      void this.redis.xtrim(rpKey(this.tag, m.source), 'MINID', `${ms}-${Number(seq) + 1}`).catch(() => undefined);
    }
    if (c.forward?.length) {
      this.forwardPending += c.forward.length;
      killHook('before');
      void this.forward();
    }
  }

  /** Copy committed fwd entries to their targets, in order, until none is left; one round at a time. */
  forward(): Promise<void> {
    if (this.forwarding) {
      this.again = true;
      return this.forwarding;
    }
    this.forwarding = this.forwardAll()
      .then(() => void (this.failed = false))
      .catch(() => void (this.failed = true)) // Redis unreachable or the lease gone: poll() retries while ours
      .finally(() => {
        this.forwarding = null;
        if (this.again && !this.closed) {
          this.again = false;
          void this.forward();
        }
      });
    return this.forwarding;
  }

  private async forwardAll(): Promise<void> {
    while (!this.closed) {
      this.again = false;
      const entries = (await this.redis.xrange(fwdKey(this.tag), `(${this.fwdCursor}`, '+', 'COUNT', FORWARD_SLICE)) as Array<[string, string[]]>;
      if (entries.length === 0) {
        this.forwardPending = 0;
        return;
      }
      // The commits that wrote these entries were sent before this read (on this connection, or by an earlier
      // owner before this one's lease writes): a replica acknowledging our latest write has them too.
      if (this.durability === 'replicated') await waitForReplica(this.redis, fwdKey(this.tag));
      const byTarget = new Map<number, Array<string | number>>();
      for (const [id, f] of entries) {
        const e = fieldsOf(f);
        const args = byTarget.get(Number(e.to)) ?? [];
        args.push(id, e.r, e.k, e.o, e.t, e.e);
        byTarget.set(Number(e.to), args);
      }
      // One script per target: its entries in id order, atomically (none skipped if a call fails).
      const answers = await Promise.all(
        [...byTarget].map(([to, args]) => runScript(this.redis, 'lfRpAdd', [rpKey(partitionStoreName(this.pipeline, to, this.count), this.n)], [args.length / 6, ...args]) as Promise<[number, number]>),
      );
      for (const [, refused] of answers) this.refused += Number(refused);
      killHook('after');
      const last = entries[entries.length - 1][0];
      const token = this.token();
      if (!token) throw new Error(`partition ${this.n}: no lease held, cur.fwd stays`);
      const r = (await runScript(this.redis, 'lfFwdDone', [leaseKey(this.tag), curKey(this.tag), fwdKey(this.tag)], [token, last])) as string[];
      if (r[0] !== 'OK') throw Object.assign(new Error(`forward fenced: the lease of {${this.tag}} is held by ${r[1] || 'nobody'} (epoch ${r[2]})`), { code: 'FENCED' });
      this.fwdCursor = last;
      this.forwardPending = Math.max(0, this.forwardPending - entries.length);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.forwarding;
  }
}
