// People in a OneRoster export: the identity columns of a user, and the teacher of each class.
import { parseUserIds, type OneRosterRecord } from './oneroster-files.js';
import type { RosterProblem } from './source.js';

export interface PersonColumns {
  name: string;
  email: string;
  google_id: string;
  sis_id: string;
  username: string;
}

/**
 * A user's identities. The Google id is a userIds entry of type `google` (default, any case) or, when
 * the setting names a `metadata.` column, that column (SIS exports put it in either place).
 */
export function personColumns(u: OneRosterRecord, googleId = 'Google'): PersonColumns {
  const google = googleId.startsWith('metadata.') ? u.get(googleId) : (parseUserIds(u.get('userIds')).get(googleId.toLowerCase()) ?? '');
  return {
    name: [u.get('givenName'), u.get('familyName')].filter(Boolean).join(' '),
    email: u.get('email').toLowerCase(),
    google_id: google,
    sis_id: u.get('identifier'),
    username: u.get('username'),
  };
}

/**
 * Each class's teachers: its `primary` teacher enrollment first (else its first teacher enrollment), then its
 * co-teachers in file order; all of them read the dashboard (the roster's teacher columns list them with `;`,
 * roster/teachers-cell.ts). Aides and administrators are not teachers here.
 */
export function teachersByClass(enrollments: OneRosterRecord[], users: Map<string, OneRosterRecord>, problems: RosterProblem[]): Map<string, OneRosterRecord[]> {
  const byClass = new Map<string, OneRosterRecord[]>();
  for (const e of enrollments) {
    if (e.get('role').toLowerCase() !== 'teacher' || !users.has(e.get('userSourcedId'))) continue;
    const list = byClass.get(e.get('classSourcedId')) ?? [];
    list.push(e);
    byClass.set(e.get('classSourcedId'), list);
  }
  const out = new Map<string, OneRosterRecord[]>();
  for (const [cls, list] of byClass) {
    const primaries = list.filter((e) => e.get('primary').toLowerCase() === 'true');
    const chosen = primaries[0] ?? list[0];
    if (primaries.length > 1) problems.push({ severity: 'warning', file: chosen.file, line: primaries[1].line, message: `class '${cls}' has ${primaries.length} primary teachers; the one on line ${chosen.line} is listed first` });
    const seen = new Set<string>();
    const ordered: OneRosterRecord[] = [];
    for (const e of [chosen, ...list.filter((x) => x !== chosen)]) {
      const id = e.get('userSourcedId');
      if (seen.has(id)) continue;
      if (id.includes(';')) {
        problems.push({ severity: 'warning', file: e.file, line: e.line, message: `teacher '${id}' has ';' in its id, which separates co-teachers: it cannot read the dashboard` });
        continue;
      }
      seen.add(id);
      ordered.push(users.get(id)!);
    }
    if (ordered.length) out.set(cls, ordered);
  }
  return out;
}
