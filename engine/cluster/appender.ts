// Appends events to a partitioned pipeline's Redis Streams the way ingest does (RedisInputLog.append:
// ingest.lua, producer high-water marks, dense ids), without a server: what tests and the scale bench use to
// feed workers. It does not validate: callers pass events the pipeline's sources accept (an ingest node
// validates before appending).
import type { Cluster, Redis } from 'ioredis';
import { groupByPartition } from '../compiler/partitions.js';
import { RedisInputLog } from '../log/redis-log.js';
import { partitionStoreName } from '../partition.js';
import type { Durability } from '../state/durability.js';
import type { CompiledPipeline, LoEvent } from '../types.js';

export class PartitionAppender {
  private constructor(
    private readonly pipeline: CompiledPipeline,
    private readonly logs: RedisInputLog[],
  ) {}

  static async open(redis: Redis | Cluster, pipeline: CompiledPipeline, durability: Durability = 'none'): Promise<PartitionAppender> {
    const count = pipeline.partitions?.count ?? 1;
    const logs = await Promise.all(Array.from({ length: count }, (_, n) => RedisInputLog.attach(redis, partitionStoreName(pipeline.name, n, count), durability)));
    return new PartitionAppender(pipeline, logs);
  }

  /** Append to each event's partition (all partitions at once); resolves with how many were appended (re-sends are not). */
  async append(stream: string, events: LoEvent[], producer?: { id: string; seq: number }, at = Date.now()): Promise<number> {
    const partitions = this.pipeline.partitions ?? { count: 1, by: null };
    const entries = events.map((event, i) => (producer ? { stream, event, at, producer: producer.id, seq: producer.seq + i } : { stream, event, at }));
    const groups = groupByPartition(partitions, entries, producer?.id);
    const counts = await Promise.all(
      [...groups].map(async ([n, list]) => {
        const r = await this.logs[n].append(list);
        this.logs[n].release(r.first + r.count); // nothing here reads them back: keep no tail in memory
        return r.count;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.logs.map((l) => l.close()));
  }
}
