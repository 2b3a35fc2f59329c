import { join, resolve } from 'node:path';
import { lockHolder } from '../../archive/lock.js';
import { AuditLog } from '../audit/audit-log.js';
import { serveAuditDir } from '../audit/dir.js';
import { cliActor, pseudonymOf } from '../audit/record.js';
import type { ErasureReport } from '../erase/erasure.js';
import { requestProblem, runErasure } from '../erase/erasure.js';
import { eraseOffline, type OfflinePlaces } from '../erase/erase-offline.js';
import { formatCounts } from '../erase/receipt.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow erase <student> [options]

Removes one student everywhere loflow keeps data: reducer states (every version; Redis or memory) and
composite keys with them (student|document), their events in the input log (file, Postgres, Redis
Stream or memory: erased events keep their offset as a tombstone), dead letters, the outbox, the caches
of a running server, and the archive (their keys destroyed: needs an encrypted archive). Class
aggregates are computed from member states when read, so they no longer include the student. Prints a
receipt: a content-addressed record (the student as a pseudonym), also on the audit log.
Idempotent: a second run finds nothing and says so. README "Student data: consent, retention, erasure".

With a running server (safe while it serves: the engine erases between two batches):
  --server URL     the server (its admin token: --token, env LOFLOW_ADMIN_TOKEN)
Without one, on the stores directly (refused while a server holds them):
  --pipeline FILE  the pipeline
  --state URL      state store as serve's (env LOFLOW_STATE)
  --checkpoint URL input log as serve's (env LOFLOW_CHECKPOINT); --log DIR for file:DIR
  --data DIR       data folder (default .loflow): dead letters, archive
  --archive DIR    archive folder (default <data>/<pipeline>/archive)
  --audit DIR      audit log folder (default as serve's)
Both:
  --by WHO         who asks (recorded; default the admin token's id or the OS user)
  --reason TEXT    why (recorded)
  --dry-run        list what would go, with counts per place; erase nothing
  --json           print the report as JSON
Exit 0 when erased (or nothing was left), 1 when a place could not be erased (said why), 2 usage.`;

export const eraseCommand: Command = {
  name: 'erase',
  summary: "remove one student's data everywhere loflow keeps it (states, logs, dead letters, archive) with a receipt",
  usage,
  flags: ['dry-run', 'json'],
  requires: ['<student>'],
  async run({ positionals, options }) {
    const student = positionals[0];
    const str = (k: string) => (typeof options[k] === 'string' ? (options[k] as string) : undefined);
    const problem = requestProblem({ student, by: str('by'), reason: str('reason') });
    if (problem) {
      console.error(`loflow erase: ${problem}`);
      return 2;
    }
    const dryRun = options['dry-run'] === true;
    let report: ErasureReport | null;
    if (str('server')) report = await viaServer(str('server')!, str('token') ?? process.env.LOFLOW_ADMIN_TOKEN, { student, by: str('by'), reason: str('reason'), dry_run: dryRun });
    else {
      if (!str('pipeline')) {
        console.error(`loflow erase: give --server URL (a running server) or --pipeline FILE (the stores directly)\n\n${usage}`);
        return 2;
      }
      report = await direct(student, dryRun, str);
    }
    if (!report) return 1;
    print(student, report, options.json === true);
    return report.record.incomplete.length || report.auditError ? 1 : 0;
  },
};

async function viaServer(server: string, token: string | undefined, body: Record<string, unknown>): Promise<ErasureReport | null> {
  let res: Response;
  try {
    res = await fetch(new URL('/v1/admin/erasures', server), { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  } catch (err) {
    console.error(`loflow erase: cannot reach ${server}: ${(err as Error).message}`);
    return null;
  }
  const text = await res.text();
  if (res.status !== 200) {
    let reason = text;
    try {
      reason = JSON.parse(text).error ?? text;
    } catch {
      /* not JSON: as is */
    }
    console.error(`loflow erase: refused (${res.status}): ${reason}`);
    return null;
  }
  return JSON.parse(text) as ErasureReport;
}

async function direct(student: string, dryRun: boolean, str: (k: string) => string | undefined): Promise<ErasureReport | null> {
  const pipeline = await loadPipeline(str('pipeline'));
  if (!pipeline) return null;
  const data = resolve(str('data') ?? '.loflow');
  const server = lockHolder(join(data, pipeline.name), 'serve.pid');
  if (server !== undefined && server !== process.pid) {
    console.error(`loflow erase: a server (process ${server}) runs '${pipeline.name}' on ${data}: erase through it (--server URL), so it erases between two batches. Nothing has been changed.`);
    return null;
  }
  const places: OfflinePlaces = {
    pipeline,
    data,
    archiveDir: str('archive') ? resolve(str('archive')!) : join(data, pipeline.name, 'archive'),
    state: str('state') ?? process.env.LOFLOW_STATE ?? pipeline.spec.state,
    checkpoint: str('checkpoint') ?? (str('log') ? `file:${str('log')}` : process.env.LOFLOW_CHECKPOINT),
  };
  const auditDir = serveAuditDir(str('audit'), data, pipeline.name);
  const audit = new AuditLog(auditDir);
  try {
    return await runErasure(
      { pipeline: pipeline.name, pseudonym: pseudonymOf(auditDir, student), by: str('by') ?? cliActor(), reason: str('reason') ?? '', dryRun },
      (record) => eraseOffline(places, student, dryRun, record),
      { log: audit, actor: cliActor() },
    );
  } catch (err) {
    console.error(`loflow erase: ${(err as Error).message}`);
    return null;
  } finally {
    await audit.drain().catch(() => undefined);
  }
}

function print(student: string, r: ErasureReport, json: boolean): void {
  if (json) return void console.log(JSON.stringify(r, null, 2));
  const { record } = r;
  const head = r.dryRun ? `would erase '${student}' (pseudonym ${record.learner}):` : r.nothing ? `nothing of '${student}' was left to erase (erased before?); receipt ${r.cid}` : `erased '${student}' (pseudonym ${record.learner}); receipt ${r.cid}`;
  console.log(head);
  for (const l of formatCounts(record.counts)) console.log(l);
  if (!record.archive.startsWith('not erased')) console.log(`  archive: ${record.archive}`); // else among NOT ERASED
  for (const i of record.incomplete) console.log(`  NOT ERASED: ${i}`);
  if (r.auditError) console.log(`  ${r.auditError}`);
  if (!r.dryRun) console.log(JSON.stringify(record));
}
