// `loflow validate x.test.yaml`: a test file is not a pipeline; check it as the tests of x.yaml beside it.
import { existsSync } from 'node:fs';
import { compilePipelineFile, formatError } from '../compiler.js';
import { loadTests } from '../testing/load.js';
import type { PipelineError } from '../types.js';

export const isTestFile = (file: string) => /\.test\.ya?ml$/.test(file);

/** The file's errors (its pipeline's first, if that does not compile), printed unless `print` is false. */
export async function checkTestFile(file: string, print: boolean): Promise<{ file: string; ok: boolean; errors: PipelineError[] }> {
  const pipelineFile = file.replace(/\.test\.(ya?ml)$/, '.$1');
  let errors: PipelineError[];
  let tests = 0;
  if (!existsSync(pipelineFile)) {
    errors = [{ file, line: 1, column: 1, path: '', message: `a test file, but there is no pipeline ${pipelineFile} beside it to test` }];
  } else {
    const compiled = await compilePipelineFile(pipelineFile);
    if (compiled.pipeline) {
      const loaded = loadTests(compiled.pipeline, pipelineFile, file);
      errors = loaded.errors;
      tests = loaded.tests.filter((t) => t.source.file === file).length;
    } else {
      errors = [{ file, line: 1, column: 1, path: '', message: `its pipeline ${pipelineFile} has errors: validate it first` }];
    }
  }
  if (print) {
    for (const e of errors) console.error(formatError(e));
    if (errors.length) console.error(`${file}: ${errors.length} error${errors.length === 1 ? '' : 's'}`);
    else console.log(`ok ${file}: ${tests} test${tests === 1 ? '' : 's'} of ${pipelineFile}`);
  }
  return { file, ok: errors.length === 0, errors };
}
