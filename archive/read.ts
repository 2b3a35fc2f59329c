// Reading an archive: from a CAR file or a folder blockstore, every block checked against its CID as it is
// read; a stream's chunks oldest first; several streams merged back into log (offset) order, one chunk of
// each stream in memory at a time.
import { existsSync } from 'node:fs';
import { CarIndexedReader } from '@ipld/car/indexed-reader';
import { parse as parseYaml } from 'yaml';
import type { LoEvent } from '../engine/types.js';
import { CID, decodeBlock, verifyBlock } from './blocks.js';
import { FolderBlockstore } from './blockstore.js';
import type { ChunkBlock, CommitBlock } from './writer.js';

/** Where blocks come from; `get` throws a clear error for a missing or corrupted block. */
export interface BlockSource {
  /** The root: a CAR's first root, or the commit the caller named (HEAD by default). */
  root: CID;
  get(cid: CID): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface ArchivedEvent {
  stream: string;
  event: LoEvent;
  /** The input log offset (derived events carry their origin's). */
  offset: number;
  /** Arrival time in ms. */
  at: number;
}

/** A CAR file (indexed, not loaded into memory) as a block source. */
export async function carSource(file: string): Promise<BlockSource> {
  let reader: CarIndexedReader;
  try {
    reader = await CarIndexedReader.fromFile(file);
  } catch (err) {
    throw new Error(`${file} is not a readable CAR file: ${(err as Error).message}`);
  }
  const [root] = await reader.getRoots();
  if (!root) throw new Error(`${file} has no root CID`);
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

/** A folder blockstore as a block source, rooted at `root` (a CID string) or its HEAD. */
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

/** `input` is a .car file, or a CID in the folder archive `dir`. */
export function openSource(input: string, dir: string): Promise<BlockSource> {
  if (input.endsWith('.car') || existsSync(input)) return carSource(input);
  return folderSource(dir, input);
}

export async function readCommit(src: BlockSource, cid: CID = src.root): Promise<CommitBlock> {
  const commit = decodeBlock<CommitBlock>(await src.get(cid));
  if (commit?.type !== 'loflow/commit') throw new Error(`${cid.toString()} is not a loflow commit (type ${JSON.stringify(commit?.type)})`);
  return commit;
}

export async function readPipelineText(src: BlockSource, commit: CommitBlock): Promise<string> {
  return decodeBlock<{ text: string }>(await src.get(commit.pipeline)).text;
}

/** The source (raw) stream names of an archived pipeline: the keys of its `sources` section. */
export function sourceStreams(pipelineText: string): string[] {
  try {
    const doc = parseYaml(pipelineText) as { sources?: Record<string, unknown> } | null;
    return Object.keys(doc?.sources ?? {});
  } catch {
    return [];
  }
}

/** A stream's chunks, oldest first: the chain is walked back from the head for CIDs only, then read forward. */
export async function* streamChunks(src: BlockSource, head: CID): AsyncGenerator<ChunkBlock> {
  const cids: CID[] = [];
  for (let cid: CID | null = head; cid; ) {
    cids.push(cid);
    cid = decodeBlock<ChunkBlock>(await src.get(cid)).prev;
  }
  for (let i = cids.length - 1; i >= 0; i--) yield decodeBlock<ChunkBlock>(await src.get(cids[i]));
}

/** One stream's events, oldest first. */
export async function* streamEvents(src: BlockSource, stream: string, head: CID): AsyncGenerator<ArchivedEvent> {
  for await (const chunk of streamChunks(src, head)) for (const e of chunk.events) yield { stream, event: e.e, offset: e.o, at: e.t };
}

/**
 * Several streams merged by offset (ties: the order of `streams`), so raw source streams come back in the
 * input log's order: deterministic, whatever order the chunks were written in.
 */
export async function* mergedEvents(src: BlockSource, commit: CommitBlock, streams: string[]): AsyncGenerator<ArchivedEvent> {
  const iters = streams.filter((s) => commit.heads[s]).map((s) => streamEvents(src, s, CID.asCID(commit.heads[s])!));
  const current: Array<ArchivedEvent | undefined> = [];
  for (const it of iters) current.push((await it.next()).value ?? undefined);
  for (;;) {
    let best = -1;
    for (let i = 0; i < current.length; i++) if (current[i] && (best < 0 || current[i]!.offset < current[best]!.offset)) best = i;
    if (best < 0) return;
    yield current[best]!;
    current[best] = (await iters[best].next()).value ?? undefined;
  }
}
