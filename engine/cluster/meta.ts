// The pipeline's partitioning record, lf:{<pl>}:meta (docs/scale-out.md §2-3): P, the routing key and the hash,
// written by the first process that runs the pipeline partitioned and checked by every process after it. A
// state lives under its partition's tag, so a node counting partitions differently would read and write other
// keys than its peers: it is refused before it touches anything.
import type { Cluster, Redis } from 'ioredis';
import { metaKey } from '../state/key-layout.js';
import type { CompiledPipeline } from '../types.js';

export interface PartitionMeta {
  P: number;
  by: string;
  hash: 'fnv1a32';
}

/** What this pipeline's partitioning is, as meta records it. */
export function metaOf(pipeline: CompiledPipeline): PartitionMeta {
  return { P: pipeline.partitions?.count ?? 1, by: pipeline.partitions?.by ?? 'student', hash: 'fnv1a32' };
}

/**
 * Record the pipeline's partitioning when Redis has none (HSETNX: two nodes starting together agree on one),
 * then compare: a mismatch throws with both sides named. A P = 1 pipeline on a store that never ran
 * partitioned writes nothing (its keys are the pipeline's own, as before meta existed).
 */
export async function checkMeta(redis: Redis | Cluster, pipeline: CompiledPipeline): Promise<PartitionMeta> {
  const want = metaOf(pipeline);
  const key = metaKey(pipeline.name);
  if (want.P > 1) {
    await redis.multi().hsetnx(key, 'P', String(want.P)).hsetnx(key, 'by', want.by).hsetnx(key, 'hash', want.hash).hsetnx(key, 'layout', '2').exec();
  }
  const [P, by, hash] = await redis.hmget(key, 'P', 'by', 'hash');
  if (P === null) return want;
  const have = { P: Number(P), by: by ?? '', hash: hash ?? '' };
  if (have.P !== want.P || (want.P > 1 && have.by !== want.by) || have.hash !== want.hash) {
    throw Object.assign(
      new Error(
        `'${pipeline.name}' is partitioned in Redis as P=${have.P} by ${have.by} (${have.hash}), but this pipeline file says P=${want.P} by ${want.by}: ` +
          `every node must count partitions the same way (states live under their partition's key). Use the same partitions: section on every node; ` +
          `changing P is an offline repartition (docs/scale-out.md §14 step 11, not built).`,
      ),
      { code: 'META_MISMATCH' },
    );
  }
  return have as PartitionMeta;
}
