// `loflow consent recalls`: the research exports a student whose consent is now withdrawn (or who left the
// consent file) was included in, from the analysis log (each research export records its students as audit
// pseudonyms), so they can be recalled from the researchers who hold them.
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { listAnalyses } from '../../archive/analysis-log.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { loadConsent } from '../../archive/consent.js';
import { archiveAuditDir } from '../audit/dir.js';
import { pseudonymOf } from '../audit/record.js';
import { archiveDir } from './archive-command.js';
import type { Command } from './command.js';

const usage = `loflow consent recalls --consent FILE [options]

Lists, per student who has no consent in FILE now (a no, or no longer listed), the research exports
(archive export --research) that included them: analysis entry, date, exported root CID and command, so
each copy can be recalled. A student listed with a no is named by id; one no longer listed cannot be
(the log holds pseudonyms only) and is shown by pseudonym.

Options:
  --consent FILE         the consent source (as archive export --research: id,consent[,date] CSV or a
                         roster CSV with a consent or research_consent column)
  --consent-id COL / --consent-column COL   other column names
  --dir D                the archive folder (as loflow archive)
  --audit D              the audit folder whose key made the pseudonyms (default: beside the archive)
  --json                 JSON lines: {student, pseudonym, exports: [{analysis, time, output, command}]}
  --help                 this text`;

interface Recall {
  student: string | null;
  pseudonym: string;
  exports: Array<{ analysis: string; time: string; output: string; command: string }>;
}

export const consentCommand: Command = {
  name: 'consent',
  summary: 'list the research exports to recall for students whose consent is withdrawn',
  usage,
  requires: ['recalls'],
  flags: ['json'],
  async run({ positionals, options }) {
    if (positionals[0] !== 'recalls') {
      console.error(`loflow consent: unknown subcommand '${positionals[0]}' (use: loflow consent recalls --consent FILE)`);
      return 2;
    }
    if (typeof options.consent !== 'string') {
      console.error('loflow consent recalls: needs --consent FILE (the current consent source)');
      return 2;
    }
    const dir = archiveDir(options.dir);
    if (!existsSync(dir)) {
      console.error(`no archive folder ${dir}: pass --dir`);
      return 1;
    }
    const consent = loadConsent(resolve(options.consent), {
      ...(typeof options['consent-id'] === 'string' ? { idColumn: options['consent-id'] } : {}),
      ...(typeof options['consent-column'] === 'string' ? { column: options['consent-column'] } : {}),
    });
    const auditDir = archiveAuditDir(options.audit, dir);
    const consented = new Set([...consent.consented].map((id) => pseudonymOf(auditDir, id)));
    const named = new Map([...consent.declined].map((id) => [pseudonymOf(auditDir, id), id]));
    const recalls = new Map<string, Recall>();
    const entries = await listAnalyses(new FolderBlockstore(dir));
    for (const { cid, entry } of entries.reverse()) {
      for (const p of entry.research?.learners ?? []) {
        if (consented.has(p)) continue;
        let r = recalls.get(p);
        if (!r) recalls.set(p, (r = { student: named.get(p) ?? null, pseudonym: p, exports: [] }));
        r.exports.push({ analysis: cid.toString(), time: new Date(entry.time).toISOString(), output: entry.output.toString(), command: entry.command });
      }
    }
    // Named students first (by id), then the unnamed ones (by pseudonym).
    const order = (r: Recall) => (r.student === null ? `1${r.pseudonym}` : `0${r.student}`);
    const list = [...recalls.values()].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
    if (options.json === true) for (const r of list) console.log(JSON.stringify(r));
    else {
      for (const r of list) {
        const who = r.student ? `${r.student} (consent ${consent.dates.has(r.student) ? `no since ${consent.dates.get(r.student)}` : 'no'})` : `${r.pseudonym} (no longer in ${options.consent})`;
        console.log(`${who}: recall ${r.exports.length} research export${r.exports.length === 1 ? '' : 's'}`);
        for (const e of r.exports) console.log(`  ${e.time}  root ${e.output}  analysis ${e.analysis}  ${e.command}`);
      }
      console.error(`${list.length} student${list.length === 1 ? '' : 's'} without consent in ${entries.filter((e) => e.entry.research).length} research export${entries.length === 1 ? '' : 's'} logged in ${dir}`);
    }
    return 0;
  },
};
