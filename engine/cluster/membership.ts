// A worker's membership (docs/scale-out.md §5.1): heartbeat.lua puts it in lf:{<pl>}:members until Redis
// TIME + ttl and answers who is alive by the same clock, in one call; leave.lua takes it out at a graceful
// stop. No client clock decides who is alive.
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { membersKey, workerKey } from '../state/key-layout.js';
import { runScript } from '../state/run-script.js';

export class Membership {
  private readonly started = Date.now();

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly pipeline: string,
    readonly id: string,
    private readonly ttl: number,
  ) {}

  /** Say we are alive; the live members (sorted), this one included. `held`: the partitions we run, for status. */
  async beat(held: readonly number[]): Promise<string[]> {
    const record = ['host', hostname(), 'pid', String(process.pid), 'started', String(this.started), 'partitions', held.join(',')];
    const r = (await runScript(this.redis, 'lfHeartbeat', [membersKey(this.pipeline), workerKey(this.pipeline, this.id)], [this.id, this.ttl, ...record])) as string[];
    return r.slice(1).sort();
  }

  /** Leave at once (graceful stop): the others rebalance on their next tick instead of after the ttl. */
  async leave(): Promise<void> {
    await runScript(this.redis, 'lfLeave', [membersKey(this.pipeline), workerKey(this.pipeline, this.id)], [this.id]).catch(() => undefined);
  }
}
