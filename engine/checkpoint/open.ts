// Pick the checkpoint (durable input log + batch runner) from a URL:
//   none                    -> in-memory log: accepted-but-unprocessed events die with the process
//   postgres://...          -> Postgres input log + DBOS durable batch workflows (the production setup)
//   file:DIR, or a folder   -> loflow's own fsync'ed NDJSON log in DIR (embedded, no server needed)
// Not offered: DBOS on PGlite through pglite-socket. It runs, but pglite-socket multiplexes every client
// connection onto PGlite's one session, so one client's transaction swallows another's statements; our
// SIGKILL test lost acknowledged events that way. The embedded durable choice is the file log.
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
    try {
      return { ...(await onPostgres(spec, pipeline)), describe: `Postgres + DBOS workflows (${redact(spec)})` };
    } catch (err) {
      // Said in one line with the (redacted) URL: a missing database or a refused connection is a setup error.
      throw new Error(`cannot open the Postgres checkpoint ${redact(spec)}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const dir = resolve(spec.startsWith('file:') ? spec.slice(5) : spec);
  return { log: new FileInputLog(dir), describe: `file log ${dir}` };
}

async function onPostgres(url: string, pipeline: string): Promise<{ log: InputLog; runner: BatchRunner }> {
  // Loaded only when asked for: DBOS and pg are not needed without a Postgres checkpoint.
  const [{ PostgresInputLog }, { DbosBatchRunner }] = await Promise.all([import('../log/postgres-log.js'), import('./dbos-runner.js')]);
  return { log: await PostgresInputLog.open(url, pipeline), runner: new DbosBatchRunner(url) };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
