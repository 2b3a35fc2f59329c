// Read an archive back as the raw event stream, in original log order: the input of a deterministic replay.
import { resolve } from 'node:path';
import type { LoEvent } from '../engine/types.js';
import { mergedEvents, openSource, readCommit, readPipelineText, sourceStreams } from './read.js';
import type { CommitBlock } from './writer.js';

export interface OpenedArchive {
  rootCid: string;
  commit: CommitBlock;
  /** The pipeline text archived with the commit. */
  pipelineText: string;
  /** The archived pipeline's source streams: what `events()` gives by default. */
  rawStreams: string[];
  /**
   * Events of the named streams (default: the raw source streams) merged in log order. Every block is
   * checked against its CID as it is read; a missing or corrupted block throws, naming it.
   */
  events(streams?: string[]): AsyncIterable<{ stream: string; event: LoEvent; offset: number; at: number }>;
}

/** `input`: a .car file, or a commit CID in the folder archive `opts.dir` (default .loflow/archive). */
export async function openArchive(input: string, opts: { dir?: string } = {}): Promise<OpenedArchive> {
  const dir = resolve(opts.dir ?? '.loflow/archive');
  const src = await openSource(input, dir);
  let commit: CommitBlock;
  let pipelineText: string;
  try {
    commit = await readCommit(src);
    pipelineText = await readPipelineText(src, commit);
  } finally {
    await src.close();
  }
  const rootCid = src.root.toString();
  const found = sourceStreams(pipelineText).filter((s) => commit.heads[s]);
  // An archive of a pipeline whose text names no source (hand-written in tests): every stream is raw.
  const rawStreams = found.length ? found : Object.keys(commit.heads);
  return {
    rootCid,
    commit,
    pipelineText,
    rawStreams,
    async *events(streams = rawStreams) {
      // A source of its own per iteration, closed at the end: the archive can be read several times.
      const s = await openSource(src.root.toString() === input ? rootCid : input, dir);
      try {
        yield* mergedEvents(s, commit, streams);
      } finally {
        await s.close();
      }
    },
  };
}
