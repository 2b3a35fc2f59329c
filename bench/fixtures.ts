// Inputs shared by the workloads: the demo pipeline and deterministic event files.
import { writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Classroom } from '../engine/classroom.js';
import { compilePipelineFile } from '../engine/compiler.js';
import { packageRoot } from '../engine/paths.js';
import type { CompiledPipeline } from '../engine/types.js';
import type { Ctx } from './types.js';

export const demoFile = join(packageRoot, 'pipelines/writing-observer.yaml');

export async function demo(): Promise<CompiledPipeline> {
  const { pipeline, errors } = await compilePipelineFile(demoFile);
  if (!pipeline) throw new Error(errors.map((e) => e.message).join('\n'));
  return pipeline;
}

export function eventsFile(ctx: Ctx, n: number): string {
  const file = join(ctx.dir, `events-${n}.ndjson`);
  try {
    statSync(file);
    return file;
  } catch {
    /* write it */
  }
  const parts: string[] = [];
  for (const e of new Classroom({ students: 200, seed: 1 }).events(n)) parts.push(JSON.stringify(e));
  writeFileSync(file, parts.join('\n') + '\n');
  return file;
}
