import { compilePipelineFile, formatError } from '../compiler.js';
import type { Command } from './command.js';
import { checkTestFile, isTestFile } from './validate-tests.js';
import { exchangeOrderWarnings } from '../compiler/partitions.js';

const usage = `loflow validate <pipeline.yaml>... [--json]

Checks pipeline files: YAML syntax, the pipeline schema, operators and their params, stream/key/roster
references, expressions, JSON paths, cycles. Prints every error as file:line:col: message and exits 1,
or prints a one-line summary per file and exits 0. A <name>.test.yaml file is checked as the tests of
<name>.yaml beside it (what \`loflow test\` would load), so \`loflow validate pipelines/*.yaml\` works.

Options:
  --json   print {file, ok, errors[]} per file as JSON
  --help   this text`;

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check pipeline files; every error as file:line:col',
  usage,
  requires: ['<pipeline.yaml>'],
  flags: ['json'],
  async run({ positionals, options }) {
    let failed = false;
    const report = [];
    for (const file of positionals) {
      // `validate pipelines/*.yaml` also names the tests: check them as tests of the pipeline beside them.
      if (isTestFile(file)) {
        const r = await checkTestFile(file, !options.json);
        failed ||= !r.ok;
        report.push(r);
        continue;
      }
      const { pipeline, errors } = await compilePipelineFile(file);
      failed ||= errors.length > 0;
      report.push({ file, ok: errors.length === 0, errors });
      if (options.json) continue;
      for (const e of errors) console.error(formatError(e));
      if (pipeline) {
        const derived = [...pipeline.streams.values()].filter((s) => s.producer).length;
        console.log(
          `ok ${file}: pipeline '${pipeline.name}', ${pipeline.sources.size} sources, ${pipeline.reducers.length} reducers, ` +
            `${derived} derived streams, ${pipeline.aggregations.size} aggregations, ${pipeline.dashboards.size} dashboards` +
            ((pipeline.partitions?.count ?? 1) > 1 ? `, ${pipeline.partitions!.count} partitions by ${pipeline.partitions!.by}` : ''),
        );
        for (const w of exchangeOrderWarnings(pipeline)) console.error(`${file}: warning: ${w}`);
      } else console.error(`${file}: ${errors.length} error${errors.length === 1 ? '' : 's'}`);
    }
    if (options.json) console.log(JSON.stringify(report, null, 2));
    return failed ? 1 : 0;
  },
};
