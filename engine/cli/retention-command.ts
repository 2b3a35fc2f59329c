// `loflow retention run <pipeline>`: one retention pass (engine/retention/run.ts) against the stores a
// server of the pipeline uses, for a scheduler (cron, a systemd timer) to call; `serve` runs the same pass
// daily by itself.
import { join, resolve } from 'node:path';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import { formatReport, runRetention, type LogTarget } from '../retention/run.js';
import { openStateStore } from '../state/open.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';
import { archiveKeyExpiry } from '../retention/keys.js';

const usage = `loflow retention run <pipeline.yaml> [options]

Applies the pipeline's retention: section once (a scheduler calls this; serve does it daily by itself):
raw events older than retention.raw leave the input log once applied and archived (never before), dead
letters older than retention.dead_letters go, reducer states are dropped once retention.states.until
has passed (not while a server holds the pipeline), and archive data keys of expired months are destroyed.

Options:
  --now T          the time to apply the policy at (ISO or ms; default: now): to preview a date, or in tests
  --dry-run        count what would go; change nothing
  --state URL      the state store (as serve: env LOFLOW_STATE, else the pipeline's state:)
  --checkpoint URL the input log (as serve: file:DIR, postgres://..., redis; env LOFLOW_CHECKPOINT)
  --log DIR        same as --checkpoint file:DIR
  --data DIR       data folder (default .loflow): dead letters in <data>/<pipeline>/deadletters.ndjson
  --archive DIR    archive folder (default <data>/<pipeline>/archive)
  --keys K         the archive's data keys, when not in <archive>/keys or the state store's Redis: a
                   folder or redis://… (as serve --keys)
  --json           the report as JSON
  --help           this text`;

export function logTarget(spec: string | undefined): LogTarget | undefined {
  if (!spec || spec === 'memory') return undefined;
  if (spec === 'redis') return { kind: 'redis' };
  if (/^postgres(ql)?:\/\//.test(spec)) return { kind: 'postgres', url: spec };
  return { kind: 'file', dir: resolve(spec.startsWith('file:') ? spec.slice(5) : spec) };
}

export const retentionCommand: Command = {
  name: 'retention',
  summary: "apply the pipeline's retention: policy once (expired raw events, dead letters, states, archive keys)",
  usage,
  requires: ['run', '<pipeline.yaml>'],
  flags: ['dry-run', 'json'],
  async run({ positionals, options }) {
    const [sub, file] = positionals;
    if (sub !== 'run') {
      console.error(`loflow retention: unknown subcommand '${sub}' (use: loflow retention run <pipeline.yaml>)`);
      return 2;
    }
    const pipeline = await loadPipeline(file);
    if (!pipeline) return 1;
    if (!pipeline.retention) {
      console.error(`loflow retention: '${file}' has no retention: section: nothing is set to expire (README "Retention")`);
      return 1;
    }
    if ((pipeline.partitions?.count ?? 1) > 1) {
      console.error(`loflow retention: '${pipeline.name}' has partitions.count ${pipeline.partitions!.count}: partitioned pipelines keep their data in memory only (nothing durable to expire yet)`);
      return 1;
    }
    const now = options.now === undefined ? Date.now() : typeof options.now === 'string' ? (/^\d+$/.test(options.now) ? Number(options.now) : Date.parse(options.now)) : NaN;
    if (!Number.isFinite(now)) {
      console.error(`loflow retention: --now needs a time: an ISO date/time (2027-03-01T00:00:00Z) or milliseconds since 1970`);
      return 2;
    }
    const data = resolve(typeof options.data === 'string' ? options.data : '.loflow');
    const spec = typeof options.checkpoint === 'string' ? options.checkpoint : typeof options.log === 'string' ? `file:${options.log}` : process.env.LOFLOW_CHECKPOINT;
    const store = await openStateStore(typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state));
    const archiveDir = typeof options.archive === 'string' ? resolve(options.archive) : join(data, pipeline.name, 'archive');
    try {
      const report = await runRetention({
        pipeline,
        now,
        dryRun: options['dry-run'] === true,
        store,
        log: logTarget(spec),
        deadLetters: new FileDeadLetterStore(join(data, pipeline.name, 'deadletters.ndjson')),
        archiveDir,
        keys: await archiveKeyExpiry(pipeline, store, archiveDir, typeof options.keys === 'string' ? options.keys : undefined),
      });
      if (options.json === true) console.log(JSON.stringify(report, null, 2));
      else for (const l of formatReport(report)) console.log(l);
      return 0;
    } finally {
      await store.close();
    }
  },
};
