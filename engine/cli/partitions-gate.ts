// What a partitioned pipeline (partitions.count > 1) cannot run with yet, checked before anything is opened.
// Each partition's states, input log (a Redis Stream per partition) and cursor live under its own tag, and the
// `meta` record (engine/cluster/meta.ts) pins P and the routing key in Redis, so a Redis store is fine. Still
// refused: replay with a persistent store (it does not check meta yet), a file or Postgres checkpoint (one offset for the whole log) and the archive (one chain per learner
// without partitions: step 8 of docs/scale-out.md §14).
import type { CompiledPipeline, StateStore } from '../types.js';

/** Why this pipeline cannot run with these parts yet, or null. */
export function partitionedProblem(pipeline: CompiledPipeline, parts: { store?: StateStore; archive?: boolean; checkpoint?: string; checksMeta?: boolean }): string | null {
  const count = pipeline.partitions?.count ?? 1;
  if (count === 1) return null;
  const why = (what: string, step: string) => `'${pipeline.name}' has partitions.count ${count}: ${what} needs ${step} of docs/scale-out.md §14 (not built yet); run it without, or with partitions.count 1`;
  // serve checks the meta record (P, routing key) in Redis; other commands (replay) do not yet.
  if (parts.store && parts.store.kind !== 'memory' && !(parts.checksMeta && parts.store.kind.startsWith('redis'))) return why(`keeping partitioned states in a ${parts.store.kind} store`, parts.checksMeta ? 'a partition record in that store' : 'the partition record of step 3');
  if (parts.checkpoint && parts.checkpoint !== 'memory' && parts.checkpoint !== 'redis') return why(`a durable checkpoint (${parts.checkpoint.split(':')[0]}); --checkpoint redis keeps one Redis Stream per partition`, 'a partitioned log in that store');
  if (parts.archive) return why('an archive (its archive: section)', 'the per-partition archive of step 8');
  return null;
}
