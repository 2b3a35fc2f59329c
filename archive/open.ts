// The archive sink a running pipeline writes to: a folder archive with a commit every `commit_every`.
import type { ArchiveSink, CompiledPipeline } from '../engine/types.js';
import { ArchiveWriter } from './writer.js';

export async function openArchiveSink(pipeline: CompiledPipeline, dir: string): Promise<ArchiveSink | undefined> {
  if (!pipeline.archive) return undefined;
  const writer = await ArchiveWriter.open(dir, { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() });
  const timer = setInterval(() => {
    writer.commit().catch((err) => console.error(`archive commit failed (will retry): ${(err as Error).message}`));
  }, pipeline.archive.commitEveryMs);
  timer.unref();
  return {
    append: (stream, events) => writer.append(stream, events),
    commit: () => writer.commit(),
    durableOffset: () => writer.durableOffset(),
    durableThrough: (stream) => writer.durableThrough(stream),
    async close() {
      clearInterval(timer);
      await writer.close();
    },
  };
}
