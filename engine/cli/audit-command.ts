// `loflow audit`: print, filter and verify the audit log of student-data access (dashboard reads,
// subscriptions, exports). See README "Deploying for a school" → "Audit".
import { existsSync } from 'node:fs';
import { findAuditDir } from '../audit/dir.js';
import { auditLines, verifyAudit } from '../audit/audit-read.js';
import { pseudonymOf, type AuditRecord } from '../audit/record.js';
import type { Command } from './command.js';

const usage = `loflow audit [options]

Prints the audit log: one line per access to student data (time, actor, action, result, target), oldest
first. Actions: dashboard.read, dashboard.subscribe, dashboard.unsubscribe (teachers), archive.export,
student.read (CLI), tap.read (operators). Students appear only as pseudonyms.

Options:
  --dir D          the audit folder (default: $LOFLOW_AUDIT, else the only .loflow/<pipeline>/audit)
  --since T        records at or after T (ISO time, or ms since 1970)
  --actor A        records of actor A (teacher:t-ada, or just t-ada)
  --action X       records of action X (e.g. archive.export)
  --student ID     records about one student (their pseudonym is computed with the log's key)
  --denied         only refused attempts
  --json           the records as JSON lines
  --verify         check the hash chain instead: exit 1 naming the first altered, removed or inserted
                   record (file and line); prints the last record's hash
  --help           this text`;

function parseSince(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) : NaN;
  if (!Number.isFinite(t)) throw new Error('--since needs an ISO date/time or milliseconds since 1970');
  return t;
}

const targetText = (t: AuditRecord['target']) => Object.entries(t ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');

export const auditCommand: Command = {
  name: 'audit',
  summary: 'print, filter and verify the audit log of dashboard reads and exports',
  usage,
  flags: ['verify', 'json', 'denied'],
  async run({ options }) {
    const dir = findAuditDir(options.dir);
    if (typeof dir !== 'string') {
      console.error(`loflow audit: ${dir.error}`);
      return 1;
    }
    if (!existsSync(dir)) {
      console.error(`loflow audit: no audit folder ${dir}`);
      return 1;
    }
    if (options.verify) {
      const r = await verifyAudit(dir);
      if (!r.ok) {
        console.error(`FAILED ${dir}: ${r.error}`);
        return 1;
      }
      if (r.startsAfter) console.log(`note: the oldest kept record follows rotated-away records (its prev is ${r.startsAfter})`);
      console.log(`ok ${dir}: ${r.records} records, hash chain intact; last hash ${r.head}`);
      return 0;
    }
    let since: number | undefined;
    try {
      since = parseSince(options.since);
    } catch (err) {
      console.error(`loflow audit: ${(err as Error).message}`);
      return 2;
    }
    const actor = typeof options.actor === 'string' ? options.actor : undefined;
    const student = typeof options.student === 'string' ? pseudonymOf(dir, options.student) : undefined;
    let n = 0;
    for await (const { record: r } of auditLines(dir, (file, line, why) => console.error(`warning: ${file} line ${line}: not a record (${why})`))) {
      if (since !== undefined && Date.parse(r.time) < since) continue;
      if (actor && r.actor !== actor && r.actor.slice(r.actor.indexOf(':') + 1) !== actor) continue;
      if (typeof options.action === 'string' && r.action !== options.action) continue;
      if (student && r.target?.student !== student) continue;
      if (options.denied && r.result !== 'denied') continue;
      n++;
      if (options.json) console.log(JSON.stringify(r));
      else console.log(`${r.time}  ${r.actor}  ${r.action}  ${r.result}  ${targetText(r.target)}${r.reason ? `  (${r.reason})` : ''}  #${r.hash.slice(0, 12)}`);
    }
    console.error(`${n} record${n === 1 ? '' : 's'} in ${dir}`);
    return 0;
  },
};
