// The dashboard node's view of commits (docs/scale-out.md §7): each commit appends the keys it changed to
// its partition's chg stream; this reads those streams from where they stood when the node started, in
// rounds, and hands each round's changes (merged per partition, with the partition's clock) to a callback
// before reading on. On one Redis: one blocking XREAD over all partitions per round, on its own connection
// (a blocked connection serves nothing else). On a cluster (an XREAD cannot span slots): one XREAD per
// partition, all sent at once (ioredis pipelines them per node), then a short pause when nothing came.
// Entries are numbered per partition (commit.lua's cur.chgn): a number skipped means the stream's cap
// (MAXLEN ~ 1,000) trimmed entries before this node read them (it was paused, or slower than the commits), and
// a number going back means the partition's cursor was reset; either way the round says `gap` and the
// reader re-reads the whole partition instead of missing changes.
import { Cluster, type Redis } from 'ioredis';
import { chgKey, curKey } from '../state/key-layout.js';

export type PartitionChanges = {
  changes: Map<string, Set<string>>;
  clock: number;
  to: number;
  /** Entries were missed (trimmed before read, or the numbering restarted): re-read everything. */
  gap?: boolean;
};

const COUNT = 1000;
const BLOCK_MS = 200;
const CLUSTER_IDLE_MS = 25;

export class ChangeFeed {
  private readonly keys: string[];
  private ids: string[] = [];
  /** Per partition, the number of the last entry read (null: not known yet, e.g. entries of an older commit.lua). */
  private numbers: Array<number | null> = [];
  /** Rounds that found a gap, per partition summed (a metric). */
  gaps = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;
  /** The last round's failure, until a round succeeds (health). */
  lastError: unknown = null;
  private reader: Redis | Cluster | null = null;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly tags: string[],
    private readonly onRound: (round: Map<number, PartitionChanges>) => Promise<void>,
  ) {
    this.keys = tags.map(chgKey);
  }

  /** The partitions' current chg ids and clocks (read before the first snapshot, so no commit falls between). */
  async open(): Promise<number[]> {
    const [last, clocks] = await Promise.all([
      Promise.all(this.keys.map((k) => this.redis.xrevrange(k, '+', '-', 'COUNT', 1))),
      Promise.all(this.tags.map((t) => this.redis.hget(curKey(t), 'clock'))),
    ]);
    this.ids = last.map((rows) => rows[0]?.[0] ?? '0-0');
    // An empty stream: the next entry is the partition's first ever (1) unless trimmed or expired away; a
    // missing number is learned from the first entry read.
    this.numbers = last.map((rows) => (rows[0] ? entryNumber(rows[0][1]) : 0));
    if (!(this.redis instanceof Cluster)) {
      const reader = this.redis.duplicate();
      await reader.connect(); // lazy, without an offline queue: connected before its first XREAD
      this.reader = reader;
    } else this.reader = this.redis;
    return clocks.map((c) => Number(c ?? 0));
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const round = this.redis instanceof Cluster ? await this.readEach() : await this.readAll();
        this.lastError = null;
        if (round.size) await this.onRound(round);
        else if (this.redis instanceof Cluster) await sleep(CLUSTER_IDLE_MS);
      } catch (err) {
        if (this.stopped) break;
        this.lastError = err;
        await sleep(500);
      }
    }
  }

  private async readAll(): Promise<Map<number, PartitionChanges>> {
    const r = (await (this.reader as Redis).xread('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...this.keys, ...this.ids)) as Array<[string, Array<[string, string[]]>]> | null;
    const round = new Map<number, PartitionChanges>();
    for (const [key, entries] of r ?? []) this.take(round, this.keys.indexOf(key), entries);
    return round;
  }

  private async readEach(): Promise<Map<number, PartitionChanges>> {
    const answers = await Promise.all(this.keys.map((k, n) => this.redis.xread('COUNT', COUNT, 'STREAMS', k, this.ids[n])));
    const round = new Map<number, PartitionChanges>();
    answers.forEach((r, n) => {
      if (r) this.take(round, n, r[0][1]);
    });
    return round;
  }

  private take(round: Map<number, PartitionChanges>, n: number, entries: Array<[string, string[]]>): void {
    if (n < 0 || entries.length === 0) return;
    let p = round.get(n);
    if (!p) round.set(n, (p = { changes: new Map(), clock: 0, to: 0 }));
    for (const [id, fields] of entries) {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      let keys: Record<string, string[]>;
      try {
        keys = JSON.parse(f.k ?? '{}') as Record<string, string[]>;
      } catch {
        keys = {}; // written by commit.lua from JSON.stringify: cannot happen short of a foreign writer
      }
      for (const [reducer, list] of Object.entries(keys)) {
        if (!Array.isArray(list)) continue;
        let set = p.changes.get(reducer);
        if (!set) p.changes.set(reducer, (set = new Set()));
        for (const k of list) if (typeof k === 'string') set.add(k);
      }
      const num = f.n === undefined ? null : Number(f.n);
      const prev = this.numbers[n];
      if (num !== null && prev !== null && num !== prev + 1) {
        if (!p.gap) this.gaps++;
        p.gap = true;
      }
      this.numbers[n] = num;
      p.clock = Math.max(p.clock, Number(f.c) || 0);
      p.to = Math.max(p.to, Number(f.to) || 0);
      this.ids[n] = id;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reader && this.reader !== this.redis) this.reader.disconnect();
    await this.loop?.catch(() => undefined);
  }
}

/** An entry's number field (n), or null when it has none. */
function entryNumber(fields: string[]): number | null {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'n') return Number(fields[i + 1]);
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
