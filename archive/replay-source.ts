// Read an archive back as event streams in original log order: the input of a deterministic replay.
import { resolve } from 'node:path';
import type { LoEvent } from '../engine/types.js';
import type { CommitBlock } from './format.js';
import { FolderBlockstore } from './blockstore.js';
import { isCidText, mergedEvents, openSource, readBlock, readCommit, readPipeline, type BlockSource } from './read.js';
import { streamsOf } from './parts.js';
import { ReaderKeys, type UnreadableChain } from './reader-keys.js';
import type { DekStore } from './keys/dek-store.js';
import { readerKeys, type KeyOptions } from './open-crypto.js';
import type { KeyProvider } from './keys/provider.js';

/** Keys of an encrypted archive: the master key provider and the data key store. */
export interface ArchiveKeys {
  provider: KeyProvider;
  deks: DekStore;
}

export interface OpenedArchive {
  rootCid: string;
  commit: CommitBlock;
  /** The CID of the archived pipeline definition block. */
  pipelineCid: string;
  /** The pipeline text archived with the commit. */
  pipelineText: string;
  /** Events of the named streams (default: every stream) merged in log order; blocks are checked as read. */
  events(streams?: string[]): AsyncIterable<{ stream: string; event: LoEvent; offset: number; at: number }>;
  /** Encrypted archives: the chains the last events() read could not decrypt (erased or missing keys). */
  unreadable(): { chains: UnreadableChain[]; learners: number; erased: number; keyMissing: number; events: number; otherChains: number };
}

/** `input`: a CAR file, or a commit CID in the folder archive `opts.dir` (default .loflow/archive). */
export async function openArchive(input: string, opts: { dir?: string; keys?: ArchiveKeys; keyOptions?: KeyOptions } = {}): Promise<OpenedArchive> {
  const dir = resolve(opts.dir ?? '.loflow/archive');
  const open = () => openSource(input, dir);
  let src: BlockSource = await open();
  let commit: CommitBlock;
  let pipelineText: string;
  try {
    commit = await readCommit(src);
    pipelineText = (await readPipeline(src, commit)).text;
    if (commit.crypto && !opts.keys && opts.keyOptions) opts = { ...opts, keys: await readerKeys(dir, commit.name, opts.keyOptions) };
    if (commit.crypto && !opts.keys) throw new Error(`${input} is an encrypted archive (format 3): replaying it needs its master key (--master-key-file, LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY) and its data keys (the archive's keys folder, or --keys)`);
  } finally {
    await src.close();
  }
  let last: ReaderKeys | undefined;
  return {
    unreadable: () => ({ chains: last?.unreadable ?? [], ...(last?.summary() ?? { learners: 0, erased: 0, keyMissing: 0, events: 0, otherChains: 0 }) }),
    rootCid: src.root.toString(),
    commit,
    pipelineCid: commit.pipeline.toString(),
    pipelineText,
    async *events(only?: string[]) {
      // A source of its own per read, closed at the end: the archive can be read several times.
      src = await open();
      const streams = only ?? (await streamsOf((cid) => src.get(cid), commit));
      if (commit.crypto) {
        const keys = (last = await ReaderKeys.open(opts.keys!.provider, opts.keys!.deks, commit.name));
        await keys.noteErasures((cid) => readBlock(src, cid), src.root);
        // An older root read from the folder: the erasures since are in the folder's history.
        if (isCidText(input)) {
          const head = await new FolderBlockstore(dir).head();
          if (head && !head.equals(src.root)) await keys.noteErasures((cid) => readBlock(src, cid), head);
        }
        src.keys = keys;
      }
      try {
        yield* await mergedEvents(src, commit, streams);
      } finally {
        await src.close();
      }
    },
  };
}
