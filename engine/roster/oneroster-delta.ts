// OneRoster delta exports: only what changed since the last export, each row with status (active or
// tobedeleted) and dateLastModified. Applied in order over a bulk export, by sourcedId: an active row
// replaces (or adds), a tobedeleted row removes. A delta row older than the row it would replace is
// reported and skipped (exports applied out of order).
import type { OneRosterFile, OneRosterFolder, OneRosterRecord } from './oneroster-files.js';
import type { RosterProblem } from './source.js';

export interface MergedFiles {
  users: OneRosterRecord[];
  classes: OneRosterRecord[];
  enrollments: OneRosterRecord[];
  courses: OneRosterRecord[];
  orgs: OneRosterRecord[];
}

const names = { users: 'users.csv', classes: 'classes.csv', enrollments: 'enrollments.csv', courses: 'courses.csv', orgs: 'orgs.csv' } as const;

export function applyDeltas(base: Map<string, OneRosterFile>, deltas: Array<{ dir: string; folder: OneRosterFolder }>, problems: RosterProblem[]): MergedFiles {
  const out = {} as MergedFiles;
  for (const [key, file] of Object.entries(names) as Array<[keyof MergedFiles, string]>) {
    const rows = new Map((base.get(file)?.records ?? []).map((r) => [r.get('sourcedId'), r]));
    for (const { dir, folder } of deltas) {
      const f = folder.files.get(file);
      if (!f?.present) continue;
      for (const r of f.records) {
        const id = r.get('sourcedId');
        const before = rows.get(id);
        const when = r.get('dateLastModified');
        if (before && when && before.get('dateLastModified') && when < before.get('dateLastModified')) {
          problems.push({ severity: 'warning', file: `${dir}/${file}`, line: r.line, message: `'${id}' was modified ${when}, before the row it would replace (${before.get('dateLastModified')}): skipped` });
          continue;
        }
        if (r.get('status').toLowerCase() === 'tobedeleted') rows.delete(id);
        else rows.set(id, { ...r, file: `${dir}/${file}`, get: r.get });
      }
    }
    out[key] = [...rows.values()];
  }
  for (const { dir, folder } of deltas) for (const p of folder.problems) problems.push({ ...p, file: p.file ? `${dir}/${p.file}` : dir });
  return out;
}
