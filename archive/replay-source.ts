// Read an archive back as the raw event stream, in original log order: the input of a deterministic replay.
import type { LoEvent } from '../engine/types.js';
import { CID, decodeBlock } from './blocks.js';
import { readCar } from './car.js';
import type { ChunkBlock, CommitBlock } from './writer.js';

export interface OpenedArchive {
  rootCid: string;
  commit: CommitBlock;
  /** The pipeline text archived with the commit. */
  pipelineText: string;
  events(streams?: string[]): AsyncIterable<{ stream: string; event: LoEvent; offset: number }>;
}

export async function openArchive(file: string): Promise<OpenedArchive> {
  const { root, blocks } = await readCar(file);
  const get = (cid: CID) => {
    const b = blocks.get(cid.toString());
    if (!b) throw new Error(`archive ${file} is missing block ${cid.toString()}`);
    return decodeBlock(b);
  };
  const commit = get(root) as CommitBlock;
  if (commit.type !== 'loflow/commit') throw new Error(`root ${root.toString()} is not a loflow commit`);
  const pipeline = get(commit.pipeline) as { text: string };
  return {
    rootCid: root.toString(),
    commit,
    pipelineText: pipeline.text,
    async *events(streams) {
      // Each stream's chunks form a chain from its head back; rebuild it, then merge streams by offset.
      const all: Array<{ stream: string; event: LoEvent; offset: number }> = [];
      for (const [stream, head] of Object.entries(commit.heads)) {
        if (streams && !streams.includes(stream)) continue;
        const chunks: ChunkBlock[] = [];
        for (let cid: CID | null = head; cid; ) {
          const c = get(cid) as ChunkBlock;
          chunks.push(c);
          cid = c.prev;
        }
        for (const c of chunks.reverse()) for (const e of c.events) all.push({ stream, event: e.e, offset: e.o });
      }
      all.sort((a, b) => a.offset - b.offset);
      yield* all;
    },
  };
}
