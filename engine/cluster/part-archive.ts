// A worker's archive of one partition it holds (docs/scale-out.md §8): the partition's ArchiveWriter in part
// mode, opened at the part its previous owner published (`arch.head` in the partition's slot), and every
// `commit_every` a new loflow/part published with archpub.lua, fenced by the partition's lease token. What it
// reports durable is what is published: the log is trimmed and the outbox dropped only below that, so a new
// owner re-feeds from the published part (ArchiveFeed.refeed) and the archive has no gap and no double.
import { CID } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { headCommit, partitioningOf } from '../../archive/partitioned-sink.js';
import { partHeadOf } from '../../archive/parts.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { archKey, leaseKey } from '../state/key-layout.js';
import type { RedisStateStore } from '../state/redis-store.js';
import { runScript } from '../state/run-script.js';
import type { ArchiveSink, CompiledPipeline, LoEvent, LoggedEvent } from '../types.js';

export interface WorkerArchiveOptions {
  dir: string;
  /** This process's lock file in the folder (gc refuses while a live one exists; the leases fence the writers). */
  lock: string;
}

async function folderPart(dir: string, pipeline: CompiledPipeline, n: number): Promise<CID | null> {
  const head = await headCommit(new FolderBlockstore(dir));
  return partHeadOf(head?.commit ?? null, n, partitioningOf(pipeline), dir);
}

export class OwnedPartSink implements ArchiveSink {
  private published: { raw: number; through: Record<string, number> };
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly writer: ArchiveWriter,
    private readonly store: RedisStateStore,
    private readonly tag: string,
    private last: string | null,
  ) {
    this.published = { raw: writer.durableOffset(), through: writer.durableThroughs() };
  }

  static async open(store: RedisStateStore, pipeline: CompiledPipeline, n: number, tag: string, o: WorkerArchiveOptions): Promise<OwnedPartSink> {
    // Nothing published yet: the folder's HEAD part, if any (an archive a `--role all` process wrote).
    const head = (await store.redis.hget(archKey(tag), 'head')) ?? (await folderPart(o.dir, pipeline, n))?.toString() ?? null;
    const writer = await ArchiveWriter.open(o.dir, { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() }, undefined, { part: { partition: n, head: head ? CID.parse(head) : null, lock: o.lock } });
    const sink = new OwnedPartSink(writer, store, tag, head);
    sink.timer = setInterval(() => sink.commit().catch((err) => console.error(`loflow: archive part ${tag}: ${(err as Error).message}`)), pipeline.archive!.commitEveryMs);
    sink.timer.unref();
    return sink;
  }

  append(stream: string, events: LoggedEvent[] | LoEvent[]): Promise<void> {
    return this.writer.append(stream, events);
  }

  /** Write the part (durable), then publish it; a FENCED answer leaves it unlinked and says so. */
  async commit(): Promise<string> {
    if (this.closed) throw new Error(`the archive part of ${this.tag} is closed`);
    const cid = await this.writer.commit();
    if (cid === this.last) return cid;
    const token = this.store.lease(this.tag).held?.token;
    if (!token) throw new Error(`partition {${this.tag}} is not held here: part ${cid} not published`);
    const through = this.writer.durableThroughs();
    const r = await runScript(this.store.redis, 'lfArchPub', [leaseKey(this.tag), archKey(this.tag)], [token, cid, JSON.stringify(through)]);
    if (r !== 'OK') throw new Error(`partition {${this.tag}}: publishing part ${cid} was FENCED (another worker holds the partition)`);
    this.last = cid;
    this.published = { raw: this.writer.durableOffset(), through };
    return cid;
  }

  durableOffset(): number {
    return this.published.raw;
  }

  durableThrough(stream: string): number {
    return this.published.through[stream] ?? -1;
  }

  /** Graceful (after ArchiveFeed.close's last commit) or dropped (nothing more published): the writer closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.writer.close();
  }
}
