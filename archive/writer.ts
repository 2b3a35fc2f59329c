// The archive writer (an ArchiveSink). Format 2: each stream's events are chunked per learner (at most
// `chunkEvents` per DAG-CBOR chunk, each linking the learner's previous chunk), and an index block per stream
// maps learner -> chain head, so one learner's events can be fetched without reading the others'. Every event
// keeps its input offset and its position in the stream, so the stream's order is rebuilt exactly. A commit
// links every stream's index, the pipeline definition and the previous commit (a git-like history).
// Crash safety: chunks are written (temp + fsync + rename) as they fill, the folder is fsynced before the
// commit that links them is written, and HEAD is switched last.
// Format 3 (crypto on, a KeyProvider given): chunks are encrypted per learner per month (chunk-crypto.ts),
// chains and indexes are keyed by the learner's pseudonym, and erase() crypto-shreds a learner (keys deleted,
// an erasure record linked from the next commit, the learner gone from the next index).
import type { ArchiveEraseRequest, ArchiveEraseResult, ArchiveSink, LoEvent, LoggedEvent } from '../engine/types.js';
import { blockOf, CID, decodeBlock, encodeBlock, type Block } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';
import type { ArchivedEntry, ChunkBlock, CommitBlock, ExportFilter, IndexBlock } from './format.js';
import { learnerPaths, learnerReader } from './learners.js';
import { acquireLock } from './lock.js';
import { encryptPlaintext } from './chunk-crypto.js';
import { chunkBytes, pendingEntry, plaintextBytes, PendingEvents, type EncodedEvent } from './chunk-bytes.js';
import { readErasureState, writeErasureState, type ErasureState } from './erasure-state.js';
import type { ErasureBlock, PartBlock } from './format.js';
import { Keyring } from './keys/keyring.js';
import { learnerKid, monthOf, otherKid, type DekStore } from './keys/dek-store.js';
import { eraseLearnerKeys } from './keys/erase.js';
import { pseudonymizer } from './keys/pseudonym.js';
import type { KeyProvider } from './keys/provider.js';

export type { ChunkBlock, CommitBlock, IndexBlock } from './format.js';

interface Chain {
  head: CID | null;
  count: number;
  /** Events since the last chunk, encoded as they arrived (chunk-bytes.ts). */
  pending: PendingEvents;
  /** Crypto: the plain learner id of the pending events (it goes inside the ciphertext only). */
  id?: string | null;
  /** Crypto: the arrival month of the pending events. */
  month?: string | null;
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

const newChain = (): Chain => ({ head: null, count: 0, pending: new PendingEvents() });

/** Encryption of a writer: the master key provider and where the wrapped data keys are kept. */
export interface WriterCrypto {
  provider: KeyProvider;
  deks: DekStore;
}

export type EraseRequest = ArchiveEraseRequest;
export type EraseResult = ArchiveEraseResult;

/** A partition's writer (format 3 parts, archive/parts.ts): its own chains, a loflow/part per commit, no HEAD. */
export interface WriterPart {
  partition: number;
  /** The part to continue from (the folder HEAD's, or the published one of a worker's partition), or null. */
  head: CID | null;
  /** The lock file it holds: `LOCK` in one process; a worker's own one (its lease fences the partition). */
  lock: string;
}

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
  private keyring: Keyring | null = null;
  private pseud: ((id: string) => string) | null = null;
  private erasures: ErasureState = { pending: [], active: new Map() };
  /** Events dropped as erased (pending ones at erase, re-fed ones after). */
  erasedDropped = 0;

  private part: WriterPart | undefined;

  private constructor(dir: string, private readonly name: string, private readonly pipelineText: string, private readonly chunkEvents: number, private readonly durableWrites: boolean, private readonly crypto?: WriterCrypto, store?: FolderBlockstore) {
    this.store = store ?? new FolderBlockstore(dir, durableWrites);
    this.keyPath = learnerPaths(pipelineText)[0];
    this.learnerOf = learnerReader(this.keyPath);
  }

  /**
   * Open (or create) the archive in `dir`, continuing from its HEAD. Takes the folder's writer lock.
   * `durable: false` (no fsyncs) is for a scratch folder that is deleted after use, never for an archive.
   * `store`: where the blocks go instead of `dir` (an export's CarSink; `dir` then holds the lock only).
   */
  static async open(dir: string, pipeline: { name: string; text: string; sources?: Iterable<string> }, chunkEvents = 1000, opts: { durable?: boolean; crypto?: WriterCrypto; part?: WriterPart; store?: FolderBlockstore } = {}): Promise<ArchiveWriter> {
    // Erasure state is one file per folder and erasure records belong in parts: not built for partitions.
    if (opts.part && opts.crypto) throw new Error('an encrypted archive of a partitioned pipeline (partitions.count > 1) is not built yet: run it without a master key, or with partitions.count 1');
    const w = new ArchiveWriter(dir, pipeline.name, pipeline.text, chunkEvents, opts.durable ?? true, opts.crypto, opts.store);
    w.part = opts.part;
    w.releaseLock = acquireLock(w.store.dir, opts.part ? { name: opts.part.lock } : {});
    try {
      for (const s of pipeline.sources ?? []) w.raw.add(s);
      if (opts.crypto) {
        w.keyring = new Keyring(opts.crypto.provider, opts.crypto.deks, pipeline.name);
        w.pseud = pseudonymizer(await opts.crypto.provider.pseudonymKey());
        w.erasures = readErasureState(w.store.dir);
      }
      const head = opts.part ? opts.part.head : await w.store.head();
      if (head) await w.resume(head);
      await w.dropPendingErased();
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
    const c = decodeBlock<CommitBlock | PartBlock>(await this.store.get(head));
    if (this.part) {
      if (c.type !== 'loflow/part' || c.partition !== this.part.partition) throw new Error(`${head.toString()} is not partition ${this.part.partition}'s loflow/part block`);
    } else if (c.type !== 'loflow/commit' || c.parts) throw new Error(`the archive ${this.store.dir} holds a partitioned history (format 3 parts): open it with the pipeline's partitions`);
    const format = c.type === 'loflow/part' ? 2 : (c.format ?? 1);
    const crypto = c.type === 'loflow/part' ? null : c.crypto;
    // One archive is all plaintext or all encrypted: mixing would leave plaintext that erasure cannot shred.
    if (crypto && !this.crypto) throw new Error(`the archive ${this.store.dir} is encrypted (format 3): configure its master key (--master-key-file, LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY) to continue it`);
    if (!crypto && this.crypto) throw new Error(`the archive ${this.store.dir} is plaintext (format ${format}): an encrypted archive needs a new archive folder (migrating a plaintext archive is not built yet), or run without a master key`);
    if (crypto && crypto.provider !== this.crypto!.provider.id) throw new Error(`the archive ${this.store.dir} was written with master key ${crypto.provider}, not the configured ${this.crypto!.provider.id}`);
    this.prev = head;
    if (c.through) {
      this.rawThrough = this.rawThroughOf(c.through);
      this.durable = { ...c.through };
    }
    for (const [s, cid] of Object.entries(c.heads)) {
      const state: StreamState = { learners: new Map(), other: newChain(), legacy: null, count: c.counts[s] ?? 0, through: c.through?.[s] ?? -1, index: null, changed: false };
      if (format >= 2) {
        const idx = decodeBlock<IndexBlock>(await this.store.get(cid));
        for (const [l, x] of Object.entries(idx.learners)) state.learners.set(l, { head: x.head, count: x.count, pending: new PendingEvents() });
        if (idx.other) state.other = { head: idx.other.head, count: idx.other.count, pending: new PendingEvents() };
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
    return this.appendWith(
      stream,
      events as LoggedEvent[],
      (x) => this.learnerOf(x.event),
      (p, x, i) => p.push(x.offset, pendingEntry({ o: x.offset, t: x.at, e: x.event, i }).b),
    );
  }

  /**
   * Events already DAG-CBOR encoded (a study export rewrites them on their bytes): the same as append of
   * the decoded events, with `learner` the id learnerOf would read from each.
   */
  appendEncoded(stream: string, events: EncodedEvent[]): Promise<void> {
    return this.appendWith(
      stream,
      events,
      (x) => x.learner,
      (p, x, i) => p.pushEntry(x.offset, x.at, x.bytes, i),
    );
  }

  private appendWith<T extends { offset: number; at: number }>(stream: string, events: T[], idOf: (x: T) => string | null, add: (pending: PendingEvents, x: T, i: number) => void): Promise<void> {
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
      const touched = new Map<Chain, { head: CID | null; count: number; pending: PendingEvents; length: number; month?: string | null }>();
      const added: string[] = [];
      // Full chunks are encoded in order (each links its chain's previous one) but written concurrently, up
      // to 32 at once: one fsync after another made the writer wait on the disk for every chunk.
      const writes: Promise<void>[] = [];
      try {
        for (const x of events) {
          if (x.offset <= (raw ? s.through : floor)) continue;
          const id = idOf(x);
          const learner = id !== null && this.pseud ? this.pseud(id) : id;
          if (learner !== null && this.erasures.active.size && x.offset < (this.erasures.active.get(learner) ?? -Infinity)) {
            // An erased learner's event from before the erasure (a re-feed after a crash, a late batch): never archived.
            if (x.offset > s.through) s.through = x.offset;
            s.changed = true;
            this.erasedDropped++;
            continue;
          }
          let c: Chain;
          if (learner === null) c = s.other;
          else {
            c = s.learners.get(learner)!;
            if (!c) {
              s.learners.set(learner, (c = newChain()));
              added.push(learner);
            }
          }
          if (!touched.has(c)) touched.set(c, { head: c.head, count: c.count, pending: c.pending, length: c.pending.length, month: c.month });
          if (this.crypto) {
            // A chunk never spans months: its data key is the month's.
            const month = monthOf(x.at);
            if (c.pending.length && c.month !== month) writes.push(this.store.put(await this.cut(stream, learner, c)));
            c.month = month;
            c.id = id;
          }
          add(c.pending, x, s.count++);
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
          t.pending.truncate(t.length); // a chunk cut from it since was not linked: its events are pending again
          c.pending = t.pending;
          c.month = t.month;
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
    let block: Block;
    if (this.keyring) {
      const month = c.month!;
      const kid = learner === null ? otherKid(month) : learnerKid(learner, month);
      const dek = await this.keyring.get(kid);
      block = await encodeBlock(encryptPlaintext(dek, { stream, learner, prev: c.head, count: c.pending.length, month, kid }, plaintextBytes(c.id ?? null, c.pending)));
    } else block = await blockOf(chunkBytes({ stream, learner, prev: c.head }, c.pending));
    c.head = block.cid;
    c.count += c.pending.length;
    c.pending = new PendingEvents();
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
      if (this.erasures.pending.length) changed = true;
      if (!changed && this.prev) return this.prev.toString();
      if (this.part) return this.commitPart();
      await this.crypto?.deks.sync?.(); // the keys of the chunks this commit links are durable before it
      const { heads, counts, through } = this.streamHeads();
      const erasures = this.erasures.pending.slice();
      const commit: CommitBlock = {
        type: 'loflow/commit',
        format: this.crypto ? 3 : 2,
        name: this.name,
        pipeline: this.pipelineCid!,
        prev: this.prev,
        time: options.time ?? Date.now(),
        heads,
        counts,
        through,
        ...(options.filter ? { filter: options.filter } : {}),
        ...(this.crypto ? { crypto: { alg: 'A256GCM' as const, pseudonym: 'hmac-sha256' as const, provider: this.crypto.provider.id }, erasures } : {}),
      };
      const block = await encodeBlock(commit);
      await this.store.put(block);
      await this.store.setHead(block.cid); // fsyncs the blocks folder first: every linked block is durable
      this.prev = block.cid;
      this.rawThrough = this.rawThroughOf(through);
      this.durable = through;
      if (this.crypto) await this.settleErasures(erasures.length);
      return block.cid.toString();
    });
  }

  /** Each stream's index head, count and offset through, in name order (a commit's and a part's fields). */
  private streamHeads(): { heads: Record<string, CID>; counts: Record<string, number>; through: Record<string, number> } {
    const heads: Record<string, CID> = {};
    const counts: Record<string, number> = {};
    const through: Record<string, number> = {};
    for (const [name, s] of [...this.streams].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!s.index) continue;
      heads[name] = s.index;
      counts[name] = s.count;
      through[name] = s.through;
    }
    return { heads, counts, through };
  }

  /** Partition mode: a loflow/part block, durable (folder synced) but not HEAD: a global commit links it. */
  private async commitPart(): Promise<string> {
    const { heads, counts, through } = this.streamHeads();
    const part: PartBlock = { type: 'loflow/part', partition: this.part!.partition, prev: this.prev, heads, counts, through, erasures: [] };
    const block = await encodeBlock(part);
    await this.store.put(block);
    await this.store.sync(); // every block the part links, and the part, are durable before anyone links it
    this.prev = block.cid;
    this.rawThrough = this.rawThroughOf(through);
    this.durable = through;
    return block.cid.toString();
  }

  /**
   * Crypto-shred a learner: drop their pending events (and later-arriving ones from before `record.before`),
   * delete their data keys of every month, write a loflow/erasure record (pseudonym, never the id) that the
   * next commit links, and leave them out of the next index. Their archived chunks stay hash-valid in every
   * commit and can no longer be decrypted by anyone. Plaintext archives cannot be crypto-shredded: refused.
   */
  erase(req: EraseRequest): Promise<EraseResult> {
    return this.serial(async () => {
      this.checkFailed();
      if (!this.crypto || !this.pseud) throw Object.assign(new Error('this archive is plaintext: it cannot be crypto-shredded (encrypted archives need a master key; see README "Encryption and keys")'), { code: 'PLAINTEXT_ARCHIVE' });
      if (typeof req?.learner !== 'string' || req.learner === '') throw new Error('erase: a learner id is required');
      const r = req.record ?? ({} as EraseRequest['record']);
      if (typeof r.by !== 'string' || typeof r.reason !== 'string') throw new Error('erase: record.by and record.reason are required');
      const p = this.pseud(req.learner);
      let seen = -1;
      for (const s of this.streams.values()) if (s.through > seen) seen = s.through;
      const before = Number.isFinite(r.before) ? r.before! : seen + 1;
      let archivedEvents = 0;
      let pendingDropped = 0;
      let chains = 0;
      for (const s of this.streams.values()) {
        const c = s.learners.get(p);
        if (!c) continue;
        chains++;
        archivedEvents += c.count;
        s.learners.delete(p); // the next index omits the learner
        s.changed = true;
        const later = c.pending.filter((o) => o >= before);
        pendingDropped += c.pending.length - later.length;
        if (later.length) s.learners.set(p, { head: null, count: 0, pending: later, id: c.id, month: c.month }); // new data, new key
      }
      const kids = await eraseLearnerKeys(this.crypto.deks, p);
      this.keyring!.forget(kids);
      const record: ErasureBlock = { type: 'loflow/erasure', pseudonym: p, by: r.by, reason: r.reason, req: r.req ?? null, at: r.at ?? Date.now(), before, kids, counts: { archivedEvents, pendingDropped, chains } };
      const block = await encodeBlock(record);
      await this.store.put(block);
      await this.store.sync();
      this.erasures.pending.push(block.cid);
      this.erasures.active.set(p, Math.max(before, this.erasures.active.get(p) ?? -Infinity));
      await writeErasureState(this.store.dir, this.erasures, this.durableWrites);
      this.erasedDropped += pendingDropped;
      return { pseudonym: p, record: block.cid.toString(), kids, archivedEvents, pendingDropped };
    });
  }

  /** After a restart: learners erased since HEAD (records not linked yet) leave the chains HEAD gave them. */
  private async dropPendingErased(): Promise<void> {
    for (const cid of this.erasures.pending) {
      const p = decodeBlock<ErasureBlock>(await this.store.get(cid)).pseudonym;
      for (const s of this.streams.values()) if (s.learners.delete(p)) s.changed = true;
    }
  }

  /** After a durable commit: its erasure records are linked; erase points every stream has passed are done. */
  private async settleErasures(linked: number): Promise<void> {
    const before = this.erasures.active.size + this.erasures.pending.length;
    this.erasures.pending.splice(0, linked);
    let low = Infinity;
    for (const name of this.streams.keys()) low = Math.min(low, this.durable[name] ?? -1);
    for (const [p, b] of this.erasures.active) if (low >= b - 1) this.erasures.active.delete(p);
    if (this.erasures.active.size + this.erasures.pending.length !== before) await writeErasureState(this.store.dir, this.erasures, this.durableWrites);
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
