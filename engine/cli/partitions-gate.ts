// A partitioned pipeline (partitions.count > 1) keeps each partition's states under its own store name, but
// nothing records P and the routing key beside them yet (the `meta` record of docs/scale-out.md §3 comes with
// step 3): a restart with another count would silently find no states, and the state gate and `state`
// commands look at the unpartitioned name only. So until then a partitioned pipeline runs on the memory store.
import type { CompiledPipeline, StateStore } from '../types.js';

/** Why this pipeline cannot run on this store yet, or null. */
export function partitionedStoreProblem(pipeline: CompiledPipeline, store: StateStore): string | null {
  const count = pipeline.partitions?.count ?? 1;
  if (count === 1 || store.kind === 'memory') return null;
  return `'${pipeline.name}' has partitions.count ${count}: partitioned states in a ${store.kind} store need the partition record of docs/scale-out.md §14 step 3 (not built yet); run it with the memory store, or with partitions.count 1`;
}
