// The archive of a partitioned pipeline in one process (`--role all`, P > 1; docs/scale-out.md §8): one
// ArchiveWriter per partition in part mode, all in one folder, each fed by its partition's task alone. A
// commit commits every part, then writes one global commit (format 3) linking the P part heads, then HEAD.
// The part writers run on the main thread (the writer thread takes one writer per thread: P threads would
// be too many for P = 64).
import type { ArchiveSink, CompiledPipeline, LoEvent, LoggedEvent } from '../engine/types.js';
import { CID, decodeBlock, encodeBlock } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';
import type { CommitBlock, Partitioning } from './format.js';
import { acquireLock } from './lock.js';
import { partHeadOf, writeGlobalCommit } from './parts.js';
import { ArchiveWriter } from './writer.js';

export const partitioningOf = (pipeline: CompiledPipeline): Partitioning => ({ count: pipeline.partitions?.count ?? 1, by: pipeline.partitions?.by ?? 'student', hash: 'fnv1a32' });

/** The pipeline block's CID (the writers store the block itself). */
export async function pipelineCid(pipeline: { name: string; text: string }): Promise<CID> {
  return (await encodeBlock({ type: 'loflow/pipeline', name: pipeline.name, text: pipeline.text })).cid;
}

/** The folder's HEAD commit, or null. */
export async function headCommit(store: FolderBlockstore): Promise<{ cid: CID; commit: CommitBlock } | null> {
  const cid = await store.head();
  return cid ? { cid, commit: decodeBlock<CommitBlock>(await store.get(cid)) } : null;
}

/** One partition's writer as the ArchiveSink its task feeds; commit() writes its part only. */
export function partSink(writer: ArchiveWriter, onCommit: (cid: string) => void, onClose: () => void): ArchiveSink {
  let closed = false;
  return {
    append: (stream: string, events: LoggedEvent[] | LoEvent[]) => writer.append(stream, events),
    commit: async () => {
      const cid = await writer.commit();
      onCommit(cid);
      return cid;
    },
    durableOffset: () => writer.durableOffset(),
    durableThrough: (stream: string) => writer.durableThrough(stream),
    async close() {
      if (closed) return;
      closed = true;
      await writer.close();
      onClose();
    },
  };
}

export class PartitionedArchive implements ArchiveSink {
  private readonly heads: Array<CID | null>;
  private readonly open = new Set<number>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly sinks: ArchiveSink[];

  private constructor(
    private readonly store: FolderBlockstore,
    private readonly name: string,
    private readonly pipeline: CID,
    private readonly partitioning: Partitioning,
    private prev: CID | null,
    private last: Array<CID | null>,
    writers: ArchiveWriter[],
    private readonly releaseLock: () => void,
  ) {
    this.heads = last.slice();
    this.sinks = writers.map((w, n) => {
      this.open.add(n);
      return partSink(w, (cid) => (this.heads[n] = CID.parse(cid)), () => this.open.delete(n));
    });
  }

  /** Open (or continue) the partitioned archive in `dir`: P part writers, a commit every `commit_every`. */
  static async open(pipeline: CompiledPipeline, dir: string, opts: { chunkEvents?: number; timer?: boolean } = {}): Promise<PartitionedArchive> {
    const store = new FolderBlockstore(dir);
    const release = acquireLock(store.dir); // held for the umbrella; the part writers share it (re-entrant)
    const writers: ArchiveWriter[] = [];
    try {
      const head = await headCommit(store);
      const p = partitioningOf(pipeline);
      const last = Array.from({ length: p.count }, (_, n) => partHeadOf(head?.commit ?? null, n, p, store.dir));
      for (let n = 0; n < p.count; n++) writers.push(await ArchiveWriter.open(dir, { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() }, opts.chunkEvents, { part: { partition: n, head: last[n], lock: 'LOCK' } }));
      const a = new PartitionedArchive(store, pipeline.name, await pipelineCid(pipeline), p, head?.cid ?? null, last, writers, release);
      if (opts.timer !== false && pipeline.archive) {
        a.timer = setInterval(() => a.commit().catch((err) => console.error(`archive commit failed (will retry): ${(err as Error).message}`)), pipeline.archive.commitEveryMs);
        a.timer.unref();
      }
      return a;
    } catch (err) {
      for (const w of writers) await w.close();
      release();
      throw err;
    }
  }

  /** Partition n's sink (its task's ctx.archive). */
  forPartition(n: number): ArchiveSink {
    const s = this.sinks[n];
    if (!s) throw new Error(`no archive partition ${n} (partitions.count ${this.partitioning.count})`);
    return s;
  }

  append(): Promise<void> {
    return Promise.reject(new Error('a partitioned archive takes events per partition (forPartition)'));
  }

  /** Commit every open part, then the global commit linking them (none when no part moved). */
  commit(): Promise<string> {
    const p = this.chain.then(async () => {
      await Promise.all([...this.open].map((n) => this.sinks[n].commit()));
      return this.link();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async link(): Promise<string> {
    if (this.prev && this.heads.every((h, n) => (h?.toString() ?? null) === (this.last[n]?.toString() ?? null))) return this.prev.toString();
    const cid = await writeGlobalCommit(this.store, { name: this.name, pipeline: this.pipeline, prev: this.prev, partitioning: this.partitioning, parts: this.heads.slice() });
    this.prev = cid;
    this.last = this.heads.slice();
    return cid.toString();
  }

  /** Not used with partitions (each task reads its own part's). */
  durableOffset(): number {
    return -1;
  }

  /** After the tasks closed their parts (each committed it): the last global commit, then the lock. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.commit();
    } finally {
      for (const n of [...this.open]) await this.sinks[n].close();
      this.releaseLock();
    }
  }
}
