// Inputs shared by the workloads: the demo pipeline and deterministic event files.
import { closeSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
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
  // Written in slices: a million events of the extension's shapes is over V8's longest string (~512 MB).
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let parts: string[] = [];
    for (const e of new Classroom({ students: 200, seed: 1 }).events(n)) {
      parts.push(JSON.stringify(e));
      if (parts.length === 10_000) {
        writeSync(fd, parts.join('\n') + '\n');
        parts = [];
      }
    }
    if (parts.length) writeSync(fd, parts.join('\n') + '\n');
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return file;
}
