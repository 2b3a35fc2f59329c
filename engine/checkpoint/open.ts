// Pick the checkpoint (durable input log + batch runner) from a URL:
//   none                    -> in-memory log: accepted-but-unprocessed events die with the process
//   postgres://...          -> Postgres input log + DBOS durable batch workflows (the production setup)
//   file:DIR, or a folder   -> loflow's own fsync'ed NDJSON log in DIR (embedded, no server needed)
import { resolve } from 'node:path';
import { FileInputLog } from '../log/file-log.js';
import type { BatchRunner, InputLog } from '../types.js';

export interface Checkpoint {
  log?: InputLog;
  runner?: BatchRunner;
  describe: string;
}

export async function openCheckpoint(spec: string | undefined, pipeline: string): Promise<Checkpoint> {
  if (!spec || spec === 'memory') return { describe: 'none (in-memory input log)' };
  if (/^postgres(ql)?:\/\//.test(spec)) {
    // Loaded only when asked for: DBOS and pg are not needed by the embedded default.
    const [{ PostgresInputLog }, { DbosBatchRunner }] = await Promise.all([import('../log/postgres-log.js'), import('./dbos-runner.js')]);
    const log = await PostgresInputLog.open(spec, pipeline);
    return { log, runner: new DbosBatchRunner(spec), describe: `postgres + DBOS workflows (${redact(spec)})` };
  }
  const dir = resolve(spec.startsWith('file:') ? spec.slice(5) : spec);
  return { log: new FileInputLog(dir), describe: `file log ${dir}` };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
