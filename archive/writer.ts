// The archive writer (an ArchiveSink): raw and derived events become DAG-CBOR chunk blocks of at most
// `chunkEvents` events, each linking the previous chunk of its stream; a commit links every stream's head,
// the pipeline definition and the previous commit (a git-like history). Blocks are written as soon as a
// chunk is full; a commit only after all its blocks; HEAD last.
import type { ArchiveSink, LoEvent, LoggedEvent } from '../engine/types.js';
import { CID, decodeBlock, encodeBlock } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';

export interface CommitBlock {
  type: 'loflow/commit';
  name: string;
  pipeline: CID;
  prev: CID | null;
  time: number;
  heads: Record<string, CID>;
  counts: Record<string, number>;
  /** Highest offset archived per stream: a batch re-sent after a crash is recognised by it. */
  through: Record<string, number>;
}

export interface ChunkBlock {
  type: 'loflow/chunk';
  stream: string;
  prev: CID | null;
  count: number;
  events: Array<{ o: number; t: number; e: LoEvent }>;
}

interface StreamState {
  head: CID | null;
  count: number;
  through: number;
  pending: ChunkBlock['events'];
}

export class ArchiveWriter implements ArchiveSink {
  readonly store: FolderBlockstore;
  private readonly streams = new Map<string, StreamState>();
  private prev: CID | null = null;
  private pipelineCid: CID | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  /** Source streams: their offsets are unique, so an offset already archived is a re-sent event. */
  private readonly raw = new Set<string>();

  private constructor(dir: string, private readonly name: string, private readonly pipelineText: string, private readonly chunkEvents: number) {
    this.store = new FolderBlockstore(dir);
  }

  static async open(dir: string, pipeline: { name: string; text: string; sources?: Iterable<string> }, chunkEvents = 1000): Promise<ArchiveWriter> {
    const w = new ArchiveWriter(dir, pipeline.name, pipeline.text, chunkEvents);
    for (const s of pipeline.sources ?? []) w.raw.add(s);
    const head = await w.store.head();
    if (head) {
      const c = decodeBlock<CommitBlock>(await w.store.get(head));
      w.prev = head;
      for (const [s, cid] of Object.entries(c.heads)) w.streams.set(s, { head: cid, count: c.counts[s] ?? 0, through: c.through?.[s] ?? -1, pending: [] });
    }
    const p = await encodeBlock({ type: 'loflow/pipeline', name: pipeline.name, text: pipeline.text });
    await w.store.put(p);
    w.pipelineCid = p.cid;
    return w;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  append(stream: string, events: LoggedEvent[] | LoEvent[]): Promise<void> {
    return this.serial(async () => {
      let s = this.streams.get(stream);
      if (!s) this.streams.set(stream, (s = { head: null, count: 0, through: -1, pending: [] }));
      for (const x of events as LoggedEvent[]) {
        // Raw events have unique offsets; derived ones share their origin's offset.
        // Derived events share their origin's offset, so only strictly older ones are re-sends.
        if (this.raw.has(stream) ? x.offset <= s.through : x.offset < s.through) continue;
        s.pending.push({ o: x.offset, t: x.at, e: x.event });
        if (s.pending.length >= this.chunkEvents) await this.flushChunk(stream, s);
      }
    });
  }

  private async flushChunk(stream: string, s: StreamState): Promise<void> {
    if (s.pending.length === 0) return;
    const chunk: ChunkBlock = { type: 'loflow/chunk', stream, prev: s.head, count: s.pending.length, events: s.pending };
    const block = await encodeBlock(chunk);
    await this.store.put(block);
    s.head = block.cid;
    s.count += s.pending.length;
    s.through = Math.max(s.through, s.pending[s.pending.length - 1].o);
    s.pending = [];
  }

  /** Write pending chunks, then a commit linking every head, then HEAD. Returns the commit CID. */
  commit(): Promise<string> {
    return this.serial(async () => {
      let changed = false;
      for (const [name, s] of this.streams) {
        if (s.pending.length) changed = true;
        await this.flushChunk(name, s);
      }
      if (!changed && this.prev) return this.prev.toString();
      const heads: Record<string, CID> = {};
      const counts: Record<string, number> = {};
      const through: Record<string, number> = {};
      for (const [name, s] of this.streams) {
        if (!s.head) continue;
        heads[name] = s.head;
        counts[name] = s.count;
        through[name] = s.through;
      }
      const commit: CommitBlock = { type: 'loflow/commit', name: this.name, pipeline: this.pipelineCid!, prev: this.prev, time: Date.now(), heads, counts, through };
      const block = await encodeBlock(commit);
      await this.store.put(block, true);
      await this.store.setHead(block.cid);
      this.prev = block.cid;
      return block.cid.toString();
    });
  }

  async close(): Promise<void> {
    await this.chain;
  }
}
