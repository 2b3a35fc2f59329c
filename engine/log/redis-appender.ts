// The ingest node's write path (`serve --role ingest`, docs/scale-out.md §4): accepted events go to their
// partition's input stream through ingest.lua, group-committed per partition (appends arriving while one is in
// flight go out together in one script call), with the producer high-water marks in the same slot (a re-sent
// request is dropped there). Unlike RedisInputLog it keeps nothing in memory once Redis answered: it never reads.
// A request resolves only after every one of its partitions' calls replied (and, `replicated`, after WAIT 1).
import type { Cluster, Redis } from 'ioredis';
import { waitForReplica, type Durability } from '../state/durability.js';
import { curKey, inKey, prodKey } from '../state/key-layout.js';
import { runScript } from '../state/run-script.js';
import { takeRawJson } from './raw-json.js';
import { GroupCommit } from './group-commit.js';
import { unavailable } from '../unavailable.js';
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
    const all = group.flat();
    const args: Array<string | number> = [all.length];
    for (const e of all) {
      const ev = e.event as unknown;
      // The event's own text when the HTTP parser kept it (no re-stringify), as the other logs do.
      const text = (ev !== null && typeof ev === 'object' ? takeRawJson(ev) : undefined) ?? JSON.stringify(ev);
      args.push(e.stream, e.at, e.producer ?? '', e.producer === undefined ? '' : String(e.seq), text);
    }
    let r: string[];
    try {
      r = (await runScript(this.redis, 'lfIngest', [inKey(tag), prodKey(tag), curKey(tag)], args)) as string[];
      if (this.durability === 'replicated') await waitForReplica(this.redis);
    } catch (err) {
      throw (err as { code?: string }).code === 'UNAVAILABLE' ? err : unavailable('redis', err);
    }
    // r[2]: per entry '1' appended, '0' a re-send dropped against the producer's high-water mark.
    const mask = r[2];
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
