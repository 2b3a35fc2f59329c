// The ingest node's write path (`serve --role ingest`, docs/scale-out.md §4): accepted events go to their
// partition's input stream through ingest.lua, group-committed per partition (appends arriving while one is in
// flight go out together in one script call), with the producer high-water marks in the same slot (a re-sent
// request is dropped there). Unlike RedisInputLog it keeps nothing in memory once Redis answered: it never reads.
// A request resolves only after every one of its partitions' calls replied (and, `replicated`, after WAIT 1).
import type { Cluster, Redis } from 'ioredis';
import type { Durability } from '../state/durability.js';
import { GroupCommit } from './group-commit.js';
import { ingestCall } from './ingest-call.js';
import type { Accepted } from '../runtime/validate-events.js';

/** How many of a group's entries Redis appended (the rest were a producer's re-sends). */
type Answer = { appended: number };

export class RedisAppender {
  private readonly groups: Array<GroupCommit<Accepted[], Answer>>;

  constructor(
    private readonly redis: Redis | Cluster,
    /** Per partition, its hash tag (partitionTag). */
    private readonly tags: string[],
    private readonly durability: Durability,
  ) {
    this.groups = tags.map((tag) => new GroupCommit<Accepted[], Answer>((g) => this.flush(tag, g)));
  }

  /** Append each partition's events; all partitions at once (ioredis pipelines concurrent calls per node). */
  async append(byPartition: Map<number, Accepted[]>): Promise<{ appended: number }> {
    const answers = await Promise.all([...byPartition].map(([n, list]) => this.groups[n].submit(list)));
    let appended = 0;
    for (const a of answers) appended += a.appended;
    return { appended };
  }

  private async flush(tag: string, group: Accepted[][]): Promise<Answer[]> {
    const { mask } = await ingestCall(this.redis, tag, this.durability, group.flat());
    // Per entry '1' appended, '0' a re-send dropped against the producer's high-water mark.
    let i = 0;
    return group.map((entries) => {
      let appended = 0;
      for (let k = 0; k < entries.length; k++) if (mask[i++] === '1') appended++;
      return { appended };
    });
  }

  /** Resolves once nothing is being written. */
  async drain(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.drain()));
  }
}
