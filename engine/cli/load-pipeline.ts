// Compile a pipeline file for a command, printing every error as file:line:col (exit code 1).
import { compilePipelineFile, formatError } from '../compiler.js';
import type { CompiledPipeline } from '../types.js';

export async function loadPipeline(file: string | undefined): Promise<CompiledPipeline | null> {
  if (!file) {
    console.error('missing <pipeline> argument (a pipeline YAML file)');
    return null;
  }
  const { pipeline, errors } = await compilePipelineFile(file);
  if (!pipeline || errors.length) {
    for (const e of errors) console.error(formatError(e));
    return null;
  }
  return pipeline;
}
