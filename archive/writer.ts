// The archive writer (an ArchiveSink). Format 2: each stream's events are chunked per learner (at most
// `chunkEvents` per DAG-CBOR chunk, each linking the learner's previous chunk), and an index block per stream
// maps learner -> chain head, so one learner's events can be fetched without reading the others'. Every event
// keeps its input offset and its position in the stream, so the stream's order is rebuilt exactly. A commit
// links every stream's index, the pipeline definition and the previous commit (a git-like history).
// Crash safety: chunks are written (temp + fsync + rename) as they fill, the folder is fsynced before the
// commit that links them is written, and HEAD is switched last.
import type { ArchiveSink, LoEvent, LoggedEvent } from '../engine/types.js';
import { CID, decodeBlock, encodeBlock, type Block } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';
import type { ArchivedEntry, ChunkBlock, CommitBlock, ExportFilter, IndexBlock } from './format.js';
import { learnerPaths, learnerReader } from './learners.js';
import { acquireLock } from './lock.js';

export type { ChunkBlock, CommitBlock, IndexBlock } from './format.js';

interface Chain {
  head: CID | null;
  count: number;
  pending: ArchivedEntry[];
}

interface StreamState {
  learners: Map<string, Chain>;
  other: Chain;
  /** Format 1 chain of events archived before this archive switched to format 2. */
  legacy: CID | null;
  /** Events archived (also the next event's stream position). */
  count: number;
  through: number;
  index: CID | null;
  changed: boolean;
}

const newChain = (): Chain => ({ head: null, count: 0, pending: [] });

export interface CommitOptions {
  /** Commit time (default now); an export uses its source's, so the same export gets the same CID. */
  time?: number;
  filter?: ExportFilter;
}

export class ArchiveWriter implements ArchiveSink {
  readonly store: FolderBlockstore;
  private readonly streams = new Map<string, StreamState>();
  private prev: CID | null = null;
  private pipelineCid: CID | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private releaseLock: () => void = () => undefined;
  private readonly keyPath: string;
  private readonly learnerOf: (e: LoEvent) => string | null;

  /** Source streams: their offsets are unique, so an offset already archived is a re-sent event. */
  private readonly raw = new Set<string>();
  /** The highest input offset of a raw event in the last durable commit (-1: none). */
  private rawThrough = -1;
  /** Per stream, the highest (origin) offset in the last durable commit. */
  private durable: Record<string, number> = {};
  /** Why an append failed: then every later append and commit fails too (see append). */
  private failed: Error | null = null;

  private constructor(dir: string, private readonly name: string, private readonly pipelineText: string, private readonly chunkEvents: number, durable: boolean) {
    this.store = new FolderBlockstore(dir, durable);
    this.keyPath = learnerPaths(pipelineText)[0];
    this.learnerOf = learnerReader(this.keyPath);
  }

  /**
   * Open (or create) the archive in `dir`, continuing from its HEAD. Takes the folder's writer lock.
   * `durable: false` (no fsyncs) is for a scratch folder that is deleted after use, never for an archive.
   */
  static async open(dir: string, pipeline: { name: string; text: string; sources?: Iterable<string> }, chunkEvents = 1000, opts: { durable?: boolean } = {}): Promise<ArchiveWriter> {
    const w = new ArchiveWriter(dir, pipeline.name, pipeline.text, chunkEvents, opts.durable ?? true);
    w.releaseLock = acquireLock(w.store.dir);
    try {
      for (const s of pipeline.sources ?? []) w.raw.add(s);
      const head = await w.store.head();
      if (head) await w.resume(head);
      const p = await encodeBlock({ type: 'loflow/pipeline', name: pipeline.name, text: pipeline.text });
      await w.store.put(p);
      w.pipelineCid = p.cid;
    } catch (err) {
      w.releaseLock();
      throw err;
    }
    return w;
  }

  /**
   * Every raw event up to this input offset is in a durable commit: the engine keeps its input log from here
   * on and, after a crash, re-feeds the archive from it, so the raw streams have no gap.
   */
  durableOffset(): number {
    return this.rawThrough;
  }

  /** The highest (origin) offset of `stream` in the last durable commit (-1: none). */
  durableThrough(stream: string): number {
    return this.durable[stream] ?? -1;
  }

  /** durableThrough of every stream in the last durable commit. */
  durableThroughs(): Record<string, number> {
    return { ...this.durable };
  }

  private rawThroughOf(through: Record<string, number>): number {
    let max = -1;
    for (const [name, t] of Object.entries(through)) if (this.raw.has(name) && t > max) max = t;
    return max;
  }

  private async resume(head: CID): Promise<void> {
    const c = decodeBlock<CommitBlock>(await this.store.get(head));
    this.prev = head;
    if (c.through) {
      this.rawThrough = this.rawThroughOf(c.through);
      this.durable = { ...c.through };
    }
    for (const [s, cid] of Object.entries(c.heads)) {
      const state: StreamState = { learners: new Map(), other: newChain(), legacy: null, count: c.counts[s] ?? 0, through: c.through?.[s] ?? -1, index: null, changed: false };
      if (c.format === 2) {
        const idx = decodeBlock<IndexBlock>(await this.store.get(cid));
        for (const [l, x] of Object.entries(idx.learners)) state.learners.set(l, { head: x.head, count: x.count, pending: [] });
        if (idx.other) state.other = { head: idx.other.head, count: idx.other.count, pending: [] };
        state.legacy = idx.legacy ?? null;
        state.index = cid;
      } else state.legacy = cid; // a format 1 archive: its chain is kept as the stream's older part
      this.streams.set(s, state);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private checkFailed(): void {
    if (this.failed) throw new Error(`the archive writer stopped after a failed append (${this.failed.message}); it takes nothing more, so its commits never pass the events it missed: reopen it to continue from its last commit`);
  }

  append(stream: string, events: LoggedEvent[] | LoEvent[]): Promise<void> {
    return this.serial(async () => {
      this.checkFailed();
      let s = this.streams.get(stream);
      if (!s) this.streams.set(stream, (s = { learners: new Map(), other: newChain(), legacy: null, count: 0, through: -1, index: null, changed: false }));
      const raw = this.raw.has(stream);
      // Raw events have unique offsets. Derived ones share their origin's offset, and the engine appends a
      // batch's events of one derived stream in one call: an origin at or below what the stream held before
      // this call was appended by an earlier call (a retried batch, or the outbox re-fed after a crash).
      const floor = s.through;
      // All or nothing: a call that fails (a chunk write: disk full, I/O error) leaves the stream as it was,
      // so no later commit records a position past events this call did not take.
      const before = { count: s.count, through: s.through, changed: s.changed };
      const touched = new Map<Chain, { head: CID | null; count: number; pending: ArchivedEntry[]; length: number }>();
      const added: string[] = [];
      // Full chunks are encoded in order (each links its chain's previous one) but written concurrently, up
      // to 32 at once: one fsync after another made the writer wait on the disk for every chunk.
      const writes: Promise<void>[] = [];
      try {
        for (const x of events as LoggedEvent[]) {
          if (x.offset <= (raw ? s.through : floor)) continue;
          const learner = this.learnerOf(x.event);
          let c: Chain;
          if (learner === null) c = s.other;
          else {
            c = s.learners.get(learner)!;
            if (!c) {
              s.learners.set(learner, (c = newChain()));
              added.push(learner);
            }
          }
          if (!touched.has(c)) touched.set(c, { head: c.head, count: c.count, pending: c.pending, length: c.pending.length });
          c.pending.push({ o: x.offset, t: x.at, e: x.event, i: s.count++ });
          if (x.offset > s.through) s.through = x.offset;
          s.changed = true;
          if (c.pending.length >= this.chunkEvents) {
            writes.push(this.store.put(await this.cut(stream, learner, c)));
            if (writes.length >= 32) await settle(writes.splice(0));
          }
        }
        await settle(writes.splice(0));
      } catch (err) {
        await Promise.allSettled(writes); // none still writing when the call reports its failure
        // Chunks already written stay as unreferenced blocks (gc removes them); the chains point where they did.
        for (const [c, t] of touched) {
          c.head = t.head;
          c.count = t.count;
          c.pending = t.pending.slice(0, t.length);
        }
        for (const l of added) s.learners.delete(l);
        Object.assign(s, before);
        // A later call must not take events past the ones this call missed (the archive would have a gap
        // that a commit makes durable): the writer stops here.
        this.failed = err instanceof Error ? err : new Error(String(err));
        throw err;
      }
    });
  }

  /** The chain's pending events as its next chunk (not yet written): the chain now ends at it. */
  private async cut(stream: string, learner: string | null, c: Chain): Promise<Block> {
    const chunk: ChunkBlock = { type: 'loflow/chunk', stream, learner, prev: c.head, count: c.pending.length, events: c.pending };
    const block = await encodeBlock(chunk);
    c.head = block.cid;
    c.count += c.pending.length;
    c.pending = [];
    return block;
  }

  private async flushChain(stream: string, learner: string | null, c: Chain): Promise<void> {
    if (c.pending.length === 0) return;
    await this.store.put(await this.cut(stream, learner, c));
  }

  private async writeIndex(stream: string, s: StreamState): Promise<void> {
    // Chains are independent: their chunks are written 32 at a time, so the fsyncs overlap (libuv's pool)
    // instead of one learner after another (a commit touching 1,000 learners took seconds).
    const chains = [...s.learners];
    for (let i = 0; i < chains.length; i += 32) await Promise.all(chains.slice(i, i + 32).map(([l, c]) => this.flushChain(stream, l, c)));
    await this.flushChain(stream, null, s.other);
    const learners: IndexBlock['learners'] = {};
    for (const [l, c] of s.learners) if (c.head) learners[l] = { head: c.head, count: c.count };
    const index: IndexBlock = {
      type: 'loflow/index',
      stream,
      key: this.keyPath,
      count: s.count,
      learners,
      other: s.other.head ? { head: s.other.head, count: s.other.count } : null,
      legacy: s.legacy,
    };
    const block = await encodeBlock(index);
    await this.store.put(block);
    s.index = block.cid;
    s.changed = false;
  }

  /** Write pending chunks and changed indexes, then (once they are durable) a commit, then HEAD. */
  commit(options: CommitOptions = {}): Promise<string> {
    return this.serial(async () => {
      this.checkFailed();
      let changed = false;
      for (const [name, s] of this.streams) {
        if (!s.changed) continue;
        changed = true;
        await this.writeIndex(name, s);
      }
      if (!changed && this.prev) return this.prev.toString();
      const heads: Record<string, CID> = {};
      const counts: Record<string, number> = {};
      const through: Record<string, number> = {};
      for (const [name, s] of [...this.streams].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (!s.index) continue;
        heads[name] = s.index;
        counts[name] = s.count;
        through[name] = s.through;
      }
      const commit: CommitBlock = {
        type: 'loflow/commit',
        format: 2,
        name: this.name,
        pipeline: this.pipelineCid!,
        prev: this.prev,
        time: options.time ?? Date.now(),
        heads,
        counts,
        through,
        ...(options.filter ? { filter: options.filter } : {}),
      };
      const block = await encodeBlock(commit);
      await this.store.put(block);
      await this.store.setHead(block.cid); // fsyncs the blocks folder first: every linked block is durable
      this.prev = block.cid;
      this.rawThrough = this.rawThroughOf(through);
      this.durable = through;
      return block.cid.toString();
    });
  }

  async close(): Promise<void> {
    await this.chain;
    this.releaseLock();
  }
}

/** Wait for every write; the first failure is rethrown once none is still running. */
async function settle(writes: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
