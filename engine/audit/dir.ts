// Where the audit log is: one folder per pipeline beside its archive and dead letters, so `serve` and the
// CLI commands that read student data (archive export, archive learner) append to the same chain.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** serve: --audit, else $LOFLOW_AUDIT, else <data>/<pipeline>/audit. */
export function serveAuditDir(option: unknown, data: string, pipeline: string): string {
  if (typeof option === 'string') return resolve(option);
  return process.env.LOFLOW_AUDIT ? resolve(process.env.LOFLOW_AUDIT) : join(data, pipeline, 'audit');
}

/** archive commands: --audit, else $LOFLOW_AUDIT, else the audit folder beside the archive folder. */
export function archiveAuditDir(option: unknown, archiveDir: string): string {
  if (typeof option === 'string') return resolve(option);
  return process.env.LOFLOW_AUDIT ? resolve(process.env.LOFLOW_AUDIT) : join(dirname(archiveDir), 'audit');
}

/** loflow audit: --dir, else $LOFLOW_AUDIT, else the only .loflow/<pipeline>/audit folder. */
export function findAuditDir(option: unknown): string | { error: string } {
  if (typeof option === 'string') return resolve(option);
  if (process.env.LOFLOW_AUDIT) return resolve(process.env.LOFLOW_AUDIT);
  let found: string[] = [];
  try {
    found = readdirSync('.loflow').map((d) => resolve('.loflow', d, 'audit')).filter((d) => existsSync(d));
  } catch {
    // no .loflow folder
  }
  if (found.length === 1) return found[0];
  return { error: found.length ? `several audit logs (${found.join(', ')}): pass --dir` : 'no audit log in .loflow/<pipeline>/audit: pass --dir (see loflow audit --help)' };
}
