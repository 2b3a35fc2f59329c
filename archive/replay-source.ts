// Read an archive back as event streams in original log order: the input of a deterministic replay.
import { resolve } from 'node:path';
import type { LoEvent } from '../engine/types.js';
import type { CommitBlock } from './format.js';
import { mergedEvents, openSource, readCommit, readPipeline, type BlockSource } from './read.js';

export interface OpenedArchive {
  rootCid: string;
  commit: CommitBlock;
  /** The CID of the archived pipeline definition block. */
  pipelineCid: string;
  /** The pipeline text archived with the commit. */
  pipelineText: string;
  /** Events of the named streams (default: every stream) merged in log order; blocks are checked as read. */
  events(streams?: string[]): AsyncIterable<{ stream: string; event: LoEvent; offset: number; at: number }>;
}

/** `input`: a CAR file, or a commit CID in the folder archive `opts.dir` (default .loflow/archive). */
export async function openArchive(input: string, opts: { dir?: string } = {}): Promise<OpenedArchive> {
  const dir = resolve(opts.dir ?? '.loflow/archive');
  const open = () => openSource(input, dir);
  let src: BlockSource = await open();
  let commit: CommitBlock;
  let pipelineText: string;
  try {
    commit = await readCommit(src);
    pipelineText = (await readPipeline(src, commit)).text;
  } finally {
    await src.close();
  }
  return {
    rootCid: src.root.toString(),
    commit,
    pipelineCid: commit.pipeline.toString(),
    pipelineText,
    async *events(streams = Object.keys(commit.heads)) {
      // A source of its own per read, closed at the end: the archive can be read several times.
      src = await open();
      try {
        yield* await mergedEvents(src, commit, streams);
      } finally {
        await src.close();
      }
    },
  };
}
