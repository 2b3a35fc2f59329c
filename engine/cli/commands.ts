// The command table: one line per command, its module imported only when it runs. `loflow --help` and a
// mistyped name need only this table, so they load no command and none of their dependencies (DBOS,
// hapi, the archive codecs, ...). The summary here is what --help prints; a test checks it matches the
// command object's own.
import type { Command } from './command.js';

/** The command's one-file bundle when the build made it (engine/vendor/build.ts says why), else undefined. */
async function bundled<M>(module: string): Promise<M | undefined> {
  const { commandBundle } = await import('../vendor/bundled.js'); // here, not above: --help needs none of it
  return commandBundle<M>(module);
}

export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'demo', summary: 'run the demo pipeline on a synthetic classroom with a live dashboard (npm start)', load: async () => (await import('./demo-command.js')).demoCommand },
  { name: 'validate', summary: 'check pipeline files; every error as file:line:col', load: async () => ((await bundled<typeof import('./validate-command.js')>('validate-command')) ?? (await import('./validate-command.js'))).validateCommand },
  { name: 'test', summary: "run a pipeline's tests (inline `tests:` or <name>.test.yaml); --update records expectations", load: async () => ((await bundled<typeof import('./test-command.js')>('test-command')) ?? (await import('./test-command.js'))).testCommand },
  { name: 'plan', summary: 'classify a pipeline edit as stateless, state-compatible or state-breaking', load: async () => (await import('./plan-command.js')).planCommand },
  { name: 'diff', summary: 'shadow run: replay one input through two pipeline versions and show what dashboards would change', load: async () => (await import('./diff-command.js')).diffCommand },
  { name: 'replay', summary: 'run an NDJSON event file through a pipeline and print the final states', load: async () => (await import('./replay-command.js')).replayCommand },
  { name: 'serve', summary: 'run a pipeline live: ingest and dashboards over HTTP/WebSocket', load: async () => (await import('./serve-command.js')).serveCommand },
  { name: 'run', summary: 'same as serve: run a pipeline with its sources live', load: async () => (await import('./serve-command.js')).runCommand },
  { name: 'roster', summary: 'check a roster (OneRoster export, CSV, saved Google Classroom answer): problems with file:line', load: async () => (await import('./roster-command.js')).rosterCommand },
  { name: 'archive', summary: 'export, verify, import, gc and inspect the content-addressed event archive (IPLD, CAR)', load: async () => (await import('./archive-command.js')).archiveCommand },
  { name: 'audit', summary: 'print, filter and verify the audit log of dashboard reads and exports', load: async () => (await import('./audit-command.js')).auditCommand },
  { name: 'state', summary: 'show and clear reducer state per reducer and version', load: async () => (await import('./state-command.js')).stateCommand },
  { name: 'cluster', summary: 'show a pipeline in Redis: live workers; per partition node, lease owner/epoch/expiry, committed offset, lag, outbox', load: async () => (await import('./cluster-command.js')).clusterCommand },
  { name: 'tap', summary: 'stream a live sample of the events or state changes at a node of a running pipeline', load: async () => (await import('./tap-command.js')).tapCommand },
  { name: 'token', summary: 'create, list or revoke hashed, class-scoped dashboard tokens for scripts', load: async () => (await import('./token-command.js')).tokenCommand },
  { name: 'consent', summary: 'list the research exports to recall for students whose consent is withdrawn', load: async () => (await import('./consent-command.js')).consentCommand },
  { name: 'retention', summary: "apply the pipeline's retention: policy once (expired raw events, dead letters, states, archive keys)", load: async () => (await import('./retention-command.js')).retentionCommand },
  { name: 'erase', summary: "remove one student's data everywhere loflow keeps it (states, logs, dead letters, archive) with a receipt", load: async () => (await import('./erase-command.js')).eraseCommand },
  { name: 'deadletter', summary: 'list refused events with their reasons, or re-feed them to a server', load: async () => (await import('./deadletter-command.js')).deadletterCommand },
  { name: 'bench', summary: 'run the benchmark suite and write a report with baselines and plots', load: async () => (await import('./bench-command.js')).benchCommand },
  { name: 'generate', summary: 'write a synthetic classroom event stream as NDJSON', load: async () => (await import('./generate-command.js')).generateCommand },
];
