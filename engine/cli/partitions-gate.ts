// What a partitioned pipeline (partitions.count > 1) cannot run with yet, checked before anything is opened.
// Each partition's states have their own store name, but nothing records P and the routing key beside them
// yet (the `meta` record of docs/scale-out.md §3 comes with step 3): a restart with another count would
// silently find no states, and the state gate and `state` commands look at the unpartitioned name only. A
// durable checkpoint has one offset for the whole log (the partition log is step 4), and the archive one
// chain per learner without partitions (step 8). Until then a partitioned pipeline runs on the memory store.
import type { CompiledPipeline, StateStore } from '../types.js';

/** Why this pipeline cannot run with these parts yet, or null. */
export function partitionedProblem(pipeline: CompiledPipeline, parts: { store?: StateStore; archive?: boolean; checkpoint?: string }): string | null {
  const count = pipeline.partitions?.count ?? 1;
  if (count === 1) return null;
  const why = (what: string, step: string) => `'${pipeline.name}' has partitions.count ${count}: ${what} needs ${step} of docs/scale-out.md §14 (not built yet); run it without, or with partitions.count 1`;
  if (parts.store && parts.store.kind !== 'memory') return why(`keeping partitioned states in a ${parts.store.kind} store`, 'the partition record of step 3');
  if (parts.checkpoint) return why(`a durable checkpoint (${parts.checkpoint.split(':')[0]})`, 'the partition log of step 4');
  if (parts.archive) return why('an archive (its archive: section)', 'the per-partition archive of step 8');
  return null;
}
