import { existsSync } from 'node:fs';
import { compilePipelineFile, formatError } from '../compiler.js';
import { loadTests, testFileOf } from '../testing/load.js';
import { formatOutcomes, outcomesJson, styleFor, summaryLine } from '../testing/report.js';
import { runTest, type TestOutcome } from '../testing/run.js';
import { applyUpdates, type UpdateResult } from '../testing/update.js';
import type { PipelineError } from '../types.js';
import type { Command } from './command.js';

const usage = `loflow test <pipeline.yaml>... [--tests FILE] [--filter TEXT] [--json] [--update [--force]]

Runs a pipeline's tests: its \`tests:\` section and <name>.test.yaml beside it. Each test feeds input
events (to sources or derived streams) through the real engine with in-memory state, optionally from a
starting state, and checks reducer states or views, emitted (cascade) events, aggregation values and
rejections (dead letters). A failure prints file:line:col and each difference with its path in the value.

Options:
  --tests FILE    the test file to use instead of <name>.test.yaml (e.g. the original's tests for an
                  edited copy of a pipeline); a \`tests:\` section in the pipeline still runs too
  --filter TEXT   only tests whose name contains TEXT (case-insensitive)
  --json          print the results as JSON
  --update        record the actual values into tests that have none (a missing field, no \`expect\`,
                  or \`expect: record\`); comments and formatting of the file are kept; failing
                  expectations are listed and left alone
  --force         with --update: also rewrite failing expectations to match what the pipeline does
  --help          this text

Exit 0 when every test passed, 1 when one failed, a file has errors, or no test ran; 2 on bad usage.`;

interface PipelineReport {
  pipeline: string;
  errors: PipelineError[];
  outcomes: TestOutcome[];
  update?: UpdateResult;
}

/** Compile, load and run one pipeline's tests (the name filter applied). */
async function runPipeline(file: string, filter: string | undefined, testFile: string | undefined): Promise<PipelineReport> {
  const report: PipelineReport = { pipeline: file, errors: [], outcomes: [] };
  const { pipeline, errors } = await compilePipelineFile(file);
  if (!pipeline) {
    report.errors = errors;
    return report;
  }
  const loaded = loadTests(pipeline, file, testFile);
  if (loaded.errors.length) {
    report.errors = loaded.errors;
    return report;
  }
  const tests = filter ? loaded.tests.filter((t) => t.name.toLowerCase().includes(filter.toLowerCase())) : loaded.tests;
  for (const t of tests) report.outcomes.push(await runTest(pipeline, t));
  return report;
}

export const testCommand: Command = {
  name: 'test',
  summary: 'run a pipeline\'s tests (inline `tests:` or <name>.test.yaml); --update records expectations',
  usage,
  requires: ['<pipeline.yaml>'],
  flags: ['json', 'update', 'force'],
  async run({ positionals, options }) {
    if (options.force && !options.update) {
      console.error('--force only goes with --update');
      return 2;
    }
    for (const o of ['filter', 'tests']) {
      if (options[o] === true) {
        console.error(`--${o} needs a value`);
        return 2;
      }
    }
    const testFile = typeof options.tests === 'string' ? options.tests : undefined;
    if (testFile && !existsSync(testFile)) {
      console.error(`--tests: no such file: ${testFile}`);
      return 2;
    }
    const filter = typeof options.filter === 'string' ? options.filter : undefined;
    const style = styleFor(process.stdout);
    const reports: PipelineReport[] = [];
    // `loflow test pipelines/*.yaml` names x.test.yaml too: that means x.yaml's tests, run once.
    for (const file of new Set(positionals.map((f) => f.replace(/\.test\.(ya?ml)$/, '.$1')))) {
      let report = await runPipeline(file, filter, testFile);
      if (options.update && report.outcomes.some((o) => !o.ok)) {
        let update: UpdateResult;
        try {
          update = applyUpdates(report.outcomes, !!options.force);
        } catch (err) {
          console.error(`${file}: ${(err as Error).message}`);
          return 1;
        }
        // Run again from the files as written now: what is reported is what the next run will see.
        if (update.files.length) report = await runPipeline(file, filter, testFile);
        report.update = update;
      }
      reports.push(report);
      if (options.json) continue;
      for (const e of report.errors) console.error(formatError(e));
      if (report.errors.length) continue;
      const where = [...new Set(report.outcomes.map((o) => o.test.source.file))];
      if (report.outcomes.length === 0) {
        console.log(filter ? `${file}: no test name contains '${filter}'` : `${file}: no tests (write them in a \`tests:\` section or in ${testFile ?? testFileOf(file)})`);
        continue;
      }
      console.log(`${file}: ${report.outcomes.length} test${report.outcomes.length === 1 ? '' : 's'} from ${where.join(', ')}`);
      if (report.update) {
        const u = report.update;
        console.log(`updated ${u.files.length ? u.files.join(', ') : 'nothing'}: ${u.recorded} expectation${u.recorded === 1 ? '' : 's'} recorded, ${u.overwritten} rewritten`);
        for (const n of u.notes) console.log(`  ${n.at.file}:${n.at.line}:${n.at.column}: ${n.what}: ${n.message}`);
      }
      console.log(formatOutcomes(report.outcomes, style));
    }
    const all = reports.flatMap((r) => r.outcomes);
    const failed = all.some((o) => !o.ok) || reports.some((r) => r.errors.length > 0) || all.length === 0;
    if (options.json) {
      const passed = all.filter((o) => o.ok).length;
      const out = {
        ok: !failed,
        passed,
        failed: all.length - passed,
        pipelines: reports.map((r) => ({
          pipeline: r.pipeline,
          errors: r.errors,
          tests: outcomesJson(r.outcomes),
          ...(r.update ? { update: r.update } : {}),
        })),
      };
      console.log(JSON.stringify(out, null, 2));
    } else {
      const broken = reports.filter((r) => r.errors.length).length;
      console.log(`${summaryLine(all)}${broken ? `; ${broken} file${broken === 1 ? '' : 's'} with errors (above)` : ''}`);
    }
    return failed ? 1 : 0;
  },
};
