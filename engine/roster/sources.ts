// The roster sources a pipeline can name (`source:` in a `rosters:` entry), and loading one into the
// engine's roster. A new source (LTI Names and Roles, a OneRoster REST snapshot) is one more entry here.
import { ajv, describeErrors } from '../event-schemas.js';
import { CsvRoster } from '../roster.js';
import { csvSource } from './csv-source.js';
import { googleClassroomSource } from './google-classroom.js';
import { oneRosterSource } from './oneroster.js';
import { formatProblem, type RosterContext, type RosterRead, type RosterSource } from './source.js';

export const rosterSources: ReadonlyMap<string, RosterSource<any>> = new Map(
  [csvSource, oneRosterSource, googleClassroomSource].map((s) => [s.name, s]),
);

const validators = new Map<string, ReturnType<ReturnType<typeof ajv>['compile']>>();

/** Read a roster entry with its source (settings checked against the source's schema first). */
export function readRosterEntry(def: Record<string, unknown>, ctx: RosterContext): RosterRead & { source?: RosterSource<any> } {
  const name = typeof def.source === 'string' ? def.source : 'csv';
  const source = rosterSources.get(name);
  if (!source) return { problems: [{ severity: 'error', message: `unknown roster source '${name}' (sources: ${[...rosterSources.keys()].join(', ')})` }] };
  let validate = validators.get(name);
  if (!validate) validators.set(name, (validate = ajv().compile(source.settings)));
  if (!validate(def)) return { source, problems: [{ severity: 'error', message: `${name} roster settings: ${describeErrors(validate.errors)}` }] };
  return { source, ...source.read(def, ctx) };
}

/** A roster from a non-CSV source as the engine's roster; its errors (file:line) refuse the compile. */
export function loadRosterFromSource(name: string, def: Record<string, unknown>, baseDir: string): CsvRoster {
  const r = readRosterEntry(def, { name, baseDir });
  const errors = r.problems.filter((p) => p.severity === 'error');
  if (!r.table || errors.length) {
    const shown = errors.slice(0, 5).map(formatProblem);
    throw new Error(`roster '${name}' (${def.source ?? 'csv'}): ${shown.join('; ')}${errors.length > 5 ? `; and ${errors.length - 5} more (loflow roster check lists them)` : ''}`);
  }
  const member = typeof def.member === 'string' ? def.member : r.source!.defaultMember || r.table.header[0];
  const m = r.table.header.indexOf(member);
  if (m < 0) throw new Error(`roster '${name}' has no column '${member}' (columns: ${r.table.header.join(', ')})`);
  // A member column other than the id (google_id, email) may be empty or shared: two rows would be one member.
  const seen = new Map<string, string>();
  const bad: string[] = [];
  r.table.rows.forEach((row, i) => {
    const id = row[m];
    if (!id) bad.push(`${r.table!.origins[i]}: no ${member}`);
    else if (seen.has(id)) bad.push(`${r.table!.origins[i]}: ${member} '${id}' is also the member of ${seen.get(id)}`);
    else seen.set(id, r.table!.origins[i]);
  });
  if (bad.length) throw new Error(`roster '${name}': ${bad.slice(0, 5).join('; ')}${bad.length > 5 ? `; and ${bad.length - 5} more` : ''}`);
  return new CsvRoster(name, r.table.header, r.table.rows, member);
}
