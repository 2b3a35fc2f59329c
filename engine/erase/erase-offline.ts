// `loflow erase` without a running server: the pipeline's stores opened directly, as `serve` would open them,
// and each erased (erase-parts.ts). What a server would hold refuses it: the Redis lease (taken for the
// erasure, so a server starting meanwhile waits), the Postgres log's advisory lock, the archive's LOCK; the
// CLI checks the data folder's serve.pid before. An in-memory store or log holds nothing once its server is gone.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lockHolder } from '../../archive/lock.js';
import { openArchiveSink } from '../../archive/open.js';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import { ARCHIVE_CANNOT_ERASE } from '../runtime/archive-feed.js';
import { openStateStore } from '../state/open.js';
import type { ArchiveEraseRequest, CompiledPipeline, InputLog, StateStore } from '../types.js';
import { eraseParts, type ArchiveOutcome, type ErasureResult } from './erase-parts.js';
import { learnerMatch } from './match.js';

export interface OfflinePlaces {
  pipeline: CompiledPipeline;
  data: string;
  archiveDir: string;
  state?: string;
  checkpoint?: string;
}

async function openLog(spec: string | undefined, pipeline: string, store: StateStore): Promise<InputLog | undefined> {
  if (!spec || spec === 'memory') return undefined;
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresInputLog } = await import('../log/postgres-log.js');
    return PostgresInputLog.open(spec, pipeline); // refuses while a server holds the log's advisory lock
  }
  if (spec === 'redis') {
    if (!store.kind.startsWith('redis')) throw new Error('--checkpoint redis needs --state redis://...');
    const { RedisInputLog } = await import('../log/redis-log.js');
    const redis = (store as import('../state/redis-store.js').RedisStateStore).redis;
    return (await RedisInputLog.open(redis, pipeline, 'none')).log;
  }
  const { FileInputLog } = await import('../log/file-log.js');
  return new FileInputLog(resolve(spec.startsWith('file:') ? spec.slice(5) : spec));
}

async function eraseArchive(p: OfflinePlaces, learner: string, record: ArchiveEraseRequest['record'], dryRun: boolean): Promise<ArchiveOutcome> {
  if (!existsSync(p.archiveDir)) return { status: 'none' };
  // Its parts are per partition and plaintext (archive/partitioned-sink.ts): nothing to shred there yet.
  if ((p.pipeline.partitions?.count ?? 1) > 1) throw new Error(`archive erasure of a partitioned pipeline (partitions.count ${p.pipeline.partitions!.count}) is not built yet (docs/scale-out.md §10.3)`);
  const holder = lockHolder(p.archiveDir);
  if (holder !== undefined && holder !== process.pid) throw new Error(`the archive ${p.archiveDir} is in use by process ${holder}: erase through its server (--server)`);
  const sink = await openArchiveSink(p.pipeline, p.archiveDir, { thread: 'main' });
  if (!sink) return { status: 'none' };
  try {
    if (!sink.erase) throw new Error(ARCHIVE_CANNOT_ERASE);
    if (dryRun) return { status: 'would-erase' };
    return { status: 'erased', detail: await sink.erase({ learner, record }) };
  } finally {
    await sink.close();
  }
}

export async function eraseOffline(p: OfflinePlaces, learner: string, dryRun: boolean, record: ArchiveEraseRequest['record']): Promise<ErasureResult> {
  const who = learnerMatch(p.pipeline, learner);
  const store = await openStateStore(p.state);
  let log: InputLog | undefined;
  try {
    log = await openLog(p.checkpoint, p.pipeline.name, store);
    const deadLetters = new FileDeadLetterStore(join(p.data, p.pipeline.name, 'deadletters.ndjson'));
    return await eraseParts(
      { store, storeName: p.pipeline.name, log, deadLetters, ...(p.pipeline.archive ? { archive: (dry: boolean) => eraseArchive(p, learner, record, dry) } : {}) },
      who,
      dryRun,
    );
  } finally {
    await log?.close().catch(() => undefined);
    await store.close();
  }
}
