// How an owned partition learns that other processes (ingest nodes) appended to its input stream: while the
// partition is idle (caught up, not pumping), a blocking XREAD on the stream from its known end, on a
// connection of its own (a blocked connection serves nothing else, and on a Redis Cluster one XREAD cannot
// span partitions' slots). An idle worker then costs Redis one wake-up per BLOCK_MS per partition instead of
// a cur.end read every 50 ms. While the partition pumps, the waiter awaits the pump.
import { Cluster, type Redis } from 'ioredis';

/** Under the store's default command timeout (2 s, LOFLOW_REDIS_TIMEOUT_MS): a blocked read is no timeout. */
const BLOCK_MS = 1000;
/** After a failed read (Redis unreachable): the lease expires meanwhile if it stays so (worker tick). */
const RETRY_MS = 500;

/** What the waiter needs of the partition's consumer. */
export interface Followed {
  readonly running: boolean;
  readonly pumping: Promise<void> | null;
  readonly logEnd: number;
}

export class LogWaiter {
  private conn: Redis | Cluster | null = null;
  private stopped = false;
  private readonly loop: Promise<void>;

  /** `grew` reads the log's end and starts a batch (OwnedPartition.follow); entries past `c.logEnd` exist. */
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly key: string,
    private readonly c: Followed,
    private readonly grew: () => Promise<void>,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.c.pumping) {
          await this.c.pumping.catch(() => undefined);
          continue;
        }
        if (!this.c.running) {
          await sleep(RETRY_MS);
          continue;
        }
        const conn = (this.conn ??= await this.open());
        // Entry ids are 0-<offset + 1>: the log's last entry is 0-<logEnd>; XREAD answers what follows it.
        const end = this.c.logEnd;
        const r = await conn.xread('COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, `0-${end}`);
        if (!r || this.stopped) continue;
        await this.grew();
        // An entry past cur.end (not written by ingest.lua, which sets both at once): do not spin on it.
        if (this.c.logEnd === end && !this.c.pumping) await sleep(RETRY_MS);
      } catch {
        if (this.stopped) break;
        await sleep(RETRY_MS);
      }
    }
  }

  private async open(): Promise<Redis | Cluster> {
    const conn: Redis | Cluster = this.redis instanceof Cluster ? this.redis.duplicate() : this.redis.duplicate();
    conn.on('error', () => undefined); // reported by the failing XREAD; reconnection is automatic
    if (conn.status === 'wait') await conn.connect(); // lazy, without an offline queue: connect first
    if (this.stopped) conn.disconnect();
    return conn;
  }

  /** Ends the loop; a blocked XREAD is cut off with its connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.conn?.disconnect();
    await this.loop;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
