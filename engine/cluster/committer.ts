// The archive committer of a worker cluster (docs/scale-out.md §8): whichever worker holds the committer
// lease reads every partition's published part (`arch.head`), and when any moved writes one format 3 commit
// linking the P part heads, then HEAD (file) and `lf:{<pl>}:head`. Parts are immutable and self-contained,
// so reading them at slightly different times is harmless. A partition with nothing published is null.
import { CID, decodeBlock, encodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import type { CommitBlock } from '../../archive/format.js';
import { partitioningOf } from '../../archive/partitioned-sink.js';
import { partHeadOf, writeGlobalCommit } from '../../archive/parts.js';
import { partitionStoreName } from '../partition.js';
import { archHeadKey, archKey } from '../state/key-layout.js';
import { Lease, leaseMs } from '../state/lease.js';
import type { RedisStateStore } from '../state/redis-store.js';
import type { CompiledPipeline } from '../types.js';

export class Committer {
  private readonly lease: Lease;
  private readonly folder: FolderBlockstore;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  /** Global commits this worker wrote (for tests and logs). */
  commits = 0;

  constructor(
    private readonly store: RedisStateStore,
    private readonly pipeline: CompiledPipeline,
    dir: string,
    private readonly say: (line: string) => void,
  ) {
    // Its own lease key in its own slot (`lf:{<pl>:committer}:lease`): the scripts of §5.2 unchanged.
    this.lease = new Lease(store.redis, `${pipeline.name}:committer`, store.owner, leaseMs());
    this.folder = new FolderBlockstore(dir);
  }

  async start(): Promise<void> {
    const { name, text } = this.pipeline;
    await this.folder.put(await encodeBlock({ type: 'loflow/pipeline', name, text })); // linked by every commit
    this.timer = setInterval(() => void this.tick(), this.pipeline.archive!.commitEveryMs);
    this.timer.unref();
  }

  /** One round; rounds never overlap. */
  tick(): Promise<void> {
    this.running ??= this.round()
      .catch((err) => this.say(`archive commit failed (will retry): ${(err as Error).message}`))
      .finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<void> {
    const held = await this.lease.tryAcquire();
    if (!('token' in held) || Date.now() > this.lease.validUntil) return;
    const count = this.pipeline.partitions?.count ?? 1;
    const tags = Array.from({ length: count }, (_, n) => partitionStoreName(this.pipeline.name, n, count));
    // Cross-slot reads: one command per partition (a cluster pipeline must stay in one slot).
    const heads = await Promise.all(tags.map((t) => this.store.redis.hget(archKey(t), 'head')));
    if (heads.every((h) => !h)) return;
    const headCid = await this.folder.head();
    const prev = headCid ? decodeBlock<CommitBlock>(await this.folder.get(headCid)) : null;
    const p = partitioningOf(this.pipeline);
    partHeadOf(prev, 0, p, this.folder.dir); // refuses an unpartitioned history or another P
    if (prev && prev.parts!.every((c, n) => (c?.toString() ?? null) === heads[n])) return;
    if (Date.now() > this.lease.validUntil) return; // the lease may be another worker's by now
    const pipelineCid = (await encodeBlock({ type: 'loflow/pipeline', name: this.pipeline.name, text: this.pipeline.text })).cid;
    const cid = await writeGlobalCommit(this.folder, { name: this.pipeline.name, pipeline: pipelineCid, prev: headCid, partitioning: p, parts: heads.map((h) => (h ? CID.parse(h) : null)) });
    await this.store.redis.set(archHeadKey(this.pipeline.name), cid.toString());
    this.commits++;
  }

  /** At a graceful stop (after this worker's parts were published): a last commit when holding the lease, then free it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.lease.held) await this.tick();
    await this.lease.release();
  }
}
