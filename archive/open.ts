// The archive sink a running pipeline writes to: a folder archive with a commit every `commit_every`. Its
// writer runs in a worker thread (archive/worker-sink.ts) unless `thread: 'main'` or LOFLOW_ARCHIVE_THREAD=main
// asks for the in-thread writer (to compare, or to debug).
import type { ArchiveSink, CompiledPipeline } from '../engine/types.js';
import { WorkerArchiveSink } from './worker-sink.js';
import { PartitionedArchive } from './partitioned-sink.js';
import { ArchiveWriter } from './writer.js';
import { configuredProvider, openWriterCrypto } from './open-crypto.js';
import type { ThreadCrypto } from './thread-protocol.js';

export type ArchiveThread = 'worker' | 'main';

export interface ArchiveSinkOptions {
  /** Where the writer runs (default: LOFLOW_ARCHIVE_THREAD, else 'worker'). */
  thread?: ArchiveThread;
  /**
   * Encryption: on when a master key is configured (`masterKeyFile`, else LOFLOW_KEY_PROVIDER,
   * LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY); `keys` is the data key store (redis://…, default <dir>/keys).
   */
  crypto?: ThreadCrypto;
}

export function archiveThread(value = process.env.LOFLOW_ARCHIVE_THREAD): ArchiveThread {
  if (value === undefined || value === '' || value === 'worker') return 'worker';
  if (value === 'main') return 'main';
  throw new Error(`LOFLOW_ARCHIVE_THREAD must be 'worker' or 'main', not '${value}'`);
}

export async function openArchiveSink(pipeline: CompiledPipeline, dir: string, options: ArchiveSinkOptions = {}): Promise<ArchiveSink | undefined> {
  if (!pipeline.archive) return undefined;
  const spec = { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() };
  const crypto = (await configuredProvider(options.crypto?.masterKeyFile)) ? { ...options.crypto } : undefined;
  if ((pipeline.partitions?.count ?? 1) > 1) {
    // One part writer per partition and a global commit (format 3 parts); encryption is not built for it.
    if (crypto) throw new Error(`an encrypted archive of a partitioned pipeline (partitions.count ${pipeline.partitions!.count}) is not built yet: run it without a master key, or with partitions.count 1`);
    return PartitionedArchive.open(pipeline, dir);
  }
  const main = (options.thread ?? archiveThread()) === 'main';
  // In-thread: this process's own key store connection, closed with the writer (the thread closes its own).
  const keys = main && crypto ? await openWriterCrypto(dir, pipeline.name, crypto) : undefined;
  let writer: ArchiveSink;
  try {
    writer = main ? await ArchiveWriter.open(dir, spec, undefined, { crypto: keys }) : await WorkerArchiveSink.open(dir, spec, { crypto });
  } catch (err) {
    await keys?.deks.close?.();
    throw err;
  }
  const timer = setInterval(() => {
    writer.commit().catch((err) => console.error(`archive commit failed (will retry): ${(err as Error).message}`));
  }, pipeline.archive.commitEveryMs);
  timer.unref();
  return {
    // The writer thread takes events' HTTP texts (engine/log/raw-json.ts); the in-thread writer has no use for them.
    ...(writer instanceof WorkerArchiveSink ? { reusesRawJson: true as const } : {}),
    append: (stream, events) => writer.append(stream, events),
    commit: () => writer.commit(),
    durableOffset: () => writer.durableOffset(),
    durableThrough: (stream) => writer.durableThrough!(stream),
    erase: (req) => writer.erase!(req),
    async close() {
      clearInterval(timer);
      await writer.close();
      await keys?.deks.close?.();
    },
  };
}
