// Reading an archive from a CAR file (indexed, not loaded into memory) or a folder blockstore: every block is
// checked against its CID as it is read. Reads both formats: 1 (one chunk chain per stream) and 2 (an index
// per stream, one chain per learner), so old CARs still replay.
import { existsSync } from 'node:fs';
import { CarIndexedReader } from '@ipld/car/indexed-reader';
import type { LoEvent } from '../engine/types.js';
import { CID, decodeBlock, verifyBlock } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';
import { isIndexed, type ArchivedEntry, type ChunkBlock, type CommitBlock, type IndexBlock, type PipelineBlock } from './format.js';
import { decryptChunk } from './chunk-crypto.js';
import type { ReaderKeys } from './reader-keys.js';
import { isParted, mergeParts, partsOf } from './parts.js';

/** Where blocks come from; `get` throws a clear error for a missing or corrupted block. */
export interface BlockSource {
  /** A CAR's first root, or the commit the caller named (HEAD by default). */
  root: CID;
  get(cid: CID): Promise<Uint8Array>;
  close(): Promise<void>;
  /** Keys for encrypted chunks (format 3 with crypto); without them reading one is an error. */
  keys?: ReaderKeys;
}

export interface ArchivedEvent {
  stream: string;
  event: LoEvent;
  /** The input log offset (derived events carry their origin's). */
  offset: number;
  /** Arrival time in ms. */
  at: number;
}

export async function carSource(file: string): Promise<BlockSource> {
  let reader: CarIndexedReader;
  try {
    reader = await CarIndexedReader.fromFile(file);
  } catch (err) {
    throw new Error(`${file} is not a readable CAR file: ${(err as Error).message}`);
  }
  const [root] = await reader.getRoots();
  if (!root) {
    await reader.close();
    throw new Error(`${file} has no root CID`);
  }
  return {
    root: CID.asCID(root)!,
    async get(cid) {
      const block = await reader.get(cid);
      if (!block) throw new Error(`${file} is missing block ${cid.toString()} (incomplete DAG)`);
      if (!(await verifyBlock(cid, block.bytes))) throw new Error(`${file}: block ${cid.toString()} does not hash to its CID (corrupted)`);
      return block.bytes;
    },
    close: () => reader.close(),
  };
}

/** A folder archive rooted at `root` (a CID) or its HEAD. */
export async function folderSource(dir: string, root?: string): Promise<BlockSource> {
  if (!existsSync(dir)) throw new Error(`no archive folder ${dir}`);
  const store = new FolderBlockstore(dir);
  let cid: CID | null;
  try {
    cid = root ? CID.parse(root) : await store.head();
  } catch {
    throw new Error(`'${root}' is not a CID`);
  }
  if (!cid) throw new Error(`the archive ${dir} has no commit yet (no HEAD)`);
  return {
    root: cid,
    async get(c) {
      if (!store.has(c)) throw new Error(`the archive ${dir} has no block ${c.toString()} (import its CAR first: loflow archive import x.car)`);
      const bytes = await store.get(c);
      if (!(await verifyBlock(c, bytes))) throw new Error(`${dir}: block ${c.toString()} does not hash to its CID (corrupted)`);
      return bytes;
    },
    close: async () => undefined,
  };
}

/** A CID string means a commit in the folder archive `dir`; anything else is a CAR file. */
export function isCidText(input: string): boolean {
  if (existsSync(input)) return false;
  try {
    CID.parse(input);
    return true;
  } catch {
    return false;
  }
}

export function openSource(input: string, dir: string): Promise<BlockSource> {
  return isCidText(input) ? folderSource(dir, input) : carSource(input);
}

export async function readBlock<T>(src: BlockSource, cid: CID): Promise<T> {
  return decodeBlock<T>(await src.get(cid));
}

export async function readCommit(src: BlockSource, cid: CID = src.root): Promise<CommitBlock> {
  const commit = await readBlock<CommitBlock>(src, cid);
  if (commit?.type !== 'loflow/commit') throw new Error(`${cid.toString()} is not a loflow commit (type ${JSON.stringify(commit?.type)})`);
  return commit;
}

export async function readPipeline(src: BlockSource, commit: CommitBlock): Promise<PipelineBlock> {
  return readBlock<PipelineBlock>(src, commit.pipeline);
}

/** A chain's entries, oldest first: walked back from the head, then put in order. */
export async function chainEntries(src: BlockSource, head: CID | null): Promise<ArchivedEntry[]> {
  const chunks: ArchivedEntry[][] = [];
  let lost: { stream: string; learner: string | null; kid: string; events: number } | null = null;
  for (let cid = head; cid; ) {
    const c = await readBlock<ChunkBlock>(src, cid);
    if (c?.type !== 'loflow/chunk') throw new Error(`${cid.toString()} is not a loflow chunk`);
    if (lost) lost.events += c.count; // past a missing key: counted, not read (prev links stay walkable)
    else if (c.enc) {
      if (!src.keys) throw new Error(`this archive is encrypted: reading its events needs its master key (--master-key-file, LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY) and its data keys (--keys)`);
      const dek = await src.keys.keyring.find(c.enc.kid);
      let plain: ArchivedEntry[] | undefined;
      try {
        plain = dek && decryptChunk(dek, c, cid).events;
      } catch (err) {
        // A learner erased and back in the same month has a new key under the same kid: their old chunks are
        // shredded, not tampered with. Anyone else's chunk that does not decrypt is an error.
        if (!(c.learner && src.keys.erased.has(c.learner))) throw err;
      }
      if (plain) chunks.push(plain);
      else lost = { stream: c.stream, learner: c.learner ?? null, kid: c.enc.kid, events: c.count };
    } else chunks.push(c.events ?? []);
    cid = c.prev;
  }
  if (lost) src.keys!.report(lost.stream, lost.learner, lost.kid, lost.events);
  const out: ArchivedEntry[] = [];
  for (let k = chunks.length - 1; k >= 0; k--) for (const e of chunks[k]) out.push(e);
  return out;
}

/** A stream's format 2 index, or null for a format 1 commit. */
export async function readIndex(src: BlockSource, commit: CommitBlock, stream: string): Promise<IndexBlock | null> {
  const head = commit.heads[stream];
  if (!head) throw new Error(`the archive has no stream '${stream}' (streams: ${Object.keys(commit.heads).join(', ') || 'none'})`);
  if (!isIndexed(commit)) return null;
  const idx = await readBlock<IndexBlock>(src, head);
  if (idx?.type !== 'loflow/index') throw new Error(`${head.toString()} is not a loflow index`);
  return idx;
}

/** Every entry of a stream in stream order, each with its position `i`. */
export async function streamEntries(src: BlockSource, commit: CommitBlock, stream: string): Promise<ArchivedEntry[]> {
  const idx = await readIndex(src, commit, stream);
  const numbered = (list: ArchivedEntry[]) => list.map((e, i) => ({ ...e, i }));
  if (!idx) return numbered(await chainEntries(src, commit.heads[stream]));
  const all: ArchivedEntry[] = numbered(await chainEntries(src, idx.legacy));
  for (const chain of [...Object.values(idx.learners), ...(idx.other ? [idx.other] : [])]) {
    for (const e of await chainEntries(src, chain.head)) all.push(e);
  }
  return all.sort((a, b) => a.i! - b.i!);
}

/**
 * One learner's entries of a stream, oldest first, reading only the index and that learner's chain.
 * Throws for a format 1 commit (it has no per-learner index).
 */
export async function learnerEntries(src: BlockSource, commit: CommitBlock, stream: string, learner: string): Promise<ArchivedEntry[]> {
  // Partitioned: the learner's chains are in one part (theirs); the others have no chain of theirs.
  if (isParted(commit)) {
    const out: ArchivedEntry[] = [];
    for (const p of await partsOf((cid) => src.get(cid), commit)) if (p.heads[stream]) out.push(...(await learnerEntries(src, p, stream, learner)));
    return out;
  }
  const idx = await readIndex(src, commit, stream);
  if (!idx) throw new Error(`this archive is format 1 (no per-learner index): export it again from a current archive, or filter all events`);
  // Encrypted archives index learners by pseudonym (computed with the pseudonym key).
  const chain = idx.learners[commit.crypto ? pseudonymFor(src, learner) : learner];
  return chain ? chainEntries(src, chain.head) : [];
}

function pseudonymFor(src: BlockSource, learner: string): string {
  if (!src.keys) throw new Error(`this archive is encrypted: finding a learner needs its master key (--master-key-file, LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY)`);
  return src.keys.pseudonym(learner);
}

/**
 * Several streams merged by offset (ties: the order of `streams`, then stream order), so the raw source
 * streams come back in the input log's order: deterministic, whatever order the chunks were written in.
 * A partitioned commit: each part so, then the parts merged by arrival time (parts.ts mergeParts).
 */
export async function mergedEvents(src: BlockSource, commit: CommitBlock, streams: string[]): Promise<ArchivedEvent[]> {
  const lists: ArchivedEvent[][] = [];
  for (const part of await partsOf((cid) => src.get(cid), commit)) {
    const all: ArchivedEvent[] = [];
    for (const stream of streams) {
      if (!part.heads[stream]) continue;
      for (const e of await streamEntries(src, part, stream)) all.push({ stream, event: e.e, offset: e.o, at: e.t });
    }
    lists.push(all.sort((a, b) => a.offset - b.offset)); // stable: equal offsets keep stream, then stream order
  }
  return mergeParts(lists);
}
