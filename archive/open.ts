// The archive sink a running pipeline writes to: a folder archive with a commit every `commit_every`. Its
// writer runs in a worker thread (archive/worker-sink.ts) unless `thread: 'main'` or LOFLOW_ARCHIVE_THREAD=main
// asks for the in-thread writer (to compare, or to debug).
import type { ArchiveSink, CompiledPipeline } from '../engine/types.js';
import { WorkerArchiveSink } from './worker-sink.js';
import { ArchiveWriter } from './writer.js';

export type ArchiveThread = 'worker' | 'main';

export interface ArchiveSinkOptions {
  /** Where the writer runs (default: LOFLOW_ARCHIVE_THREAD, else 'worker'). */
  thread?: ArchiveThread;
}

export function archiveThread(value = process.env.LOFLOW_ARCHIVE_THREAD): ArchiveThread {
  if (value === undefined || value === '' || value === 'worker') return 'worker';
  if (value === 'main') return 'main';
  throw new Error(`LOFLOW_ARCHIVE_THREAD must be 'worker' or 'main', not '${value}'`);
}

export async function openArchiveSink(pipeline: CompiledPipeline, dir: string, options: ArchiveSinkOptions = {}): Promise<ArchiveSink | undefined> {
  if (!pipeline.archive) return undefined;
  const spec = { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() };
  const writer: ArchiveSink = (options.thread ?? archiveThread()) === 'main' ? await ArchiveWriter.open(dir, spec) : await WorkerArchiveSink.open(dir, spec);
  const timer = setInterval(() => {
    writer.commit().catch((err) => console.error(`archive commit failed (will retry): ${(err as Error).message}`));
  }, pipeline.archive.commitEveryMs);
  timer.unref();
  return {
    append: (stream, events) => writer.append(stream, events),
    commit: () => writer.commit(),
    durableOffset: () => writer.durableOffset(),
    durableThrough: (stream) => writer.durableThrough!(stream),
    // `loflow erase`: only a writer that can (per-learner keys) offers it; without, ArchiveFeed.erase refuses.
    ...(writer.erase ? { erase: (request: Parameters<NonNullable<ArchiveSink['erase']>>[0]) => writer.erase!(request) } : {}),
    async close() {
      clearInterval(timer);
      await writer.close();
    },
  };
}
