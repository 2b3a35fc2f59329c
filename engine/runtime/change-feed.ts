// The dashboard node's view of commits (docs/scale-out.md §7): each commit appends the keys it changed to
// its partition's chg stream; this reads those streams from where they stood when the node started, in
// rounds, and hands each round's changes (merged per partition, with the partition's clock) to a callback
// before reading on. On one Redis: one blocking XREAD over all partitions per round, on its own connection
// (a blocked connection serves nothing else). On a cluster (an XREAD cannot span slots): one XREAD per
// partition, all sent at once (ioredis pipelines them per node), then a short pause when nothing came.
import { Cluster, type Redis } from 'ioredis';
import { chgKey, curKey } from '../state/key-layout.js';

export type PartitionChanges = { changes: Map<string, Set<string>>; clock: number; to: number };

const COUNT = 1000;
const BLOCK_MS = 200;
const CLUSTER_IDLE_MS = 25;

export class ChangeFeed {
  private readonly keys: string[];
  private ids: string[] = [];
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
