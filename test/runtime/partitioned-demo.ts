// The demo pipeline compiled with a `partitions:` section, for the scale-out tests (docs/scale-out.md §11 T11).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline, compilePipelineFile } from '../../engine/compiler.js';
import type { CompiledPipeline } from '../../engine/types.js';

export const demoFile = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');

/** The demo pipeline with `partitions: {count}`; P = 1 is the file as it is (no section). */
export async function demoWithPartitions(count: number): Promise<CompiledPipeline> {
  const { pipeline, errors } =
    count === 1 ? await compilePipelineFile(demoFile) : await compilePipeline(`${readFileSync(demoFile, 'utf8')}\npartitions: { count: ${count} }\n`, demoFile);
  if (!pipeline) throw new Error(`demo pipeline with ${count} partitions: ${JSON.stringify(errors)}`);
  return pipeline;
}
