// Which roster teacher a signed-in account is. A roster row names its class's teachers (the `teacher`
// column, several separated by `;`); the account is matched to it by the provider's subject (`teacher_sub` column: stable, never
// reassigned) or by a verified email (`teacher_email` column, or a teacher column that holds the email).
import { cellValues } from '../roster/teachers-cell.js';
import type { CompiledPipeline } from '../types.js';

export interface AccountClaims {
  sub: string;
  email?: string;
  emailVerified: boolean;
}

export interface MatchColumns {
  teacher: string;
  email: string;
  subject: string;
}

export const defaultMatchColumns: MatchColumns = { teacher: 'teacher', email: 'teacher_email', subject: 'teacher_sub' };

const norm = (s: string | undefined) => (s ?? '').trim().toLowerCase();

/** The teacher id the account is on the rosters as, or why it cannot be signed in. */
export function matchTeacher(pipeline: CompiledPipeline, claims: AccountClaims, cols: MatchColumns = defaultMatchColumns): { teacher: string } | { error: string } {
  // An unverified email proves nothing (some providers let a user type any address): match by subject only.
  const email = claims.emailVerified ? norm(claims.email) : '';
  const found = new Set<string>();
  for (const roster of pipeline.rosters.values()) {
    for (const g of roster.groups()) {
      for (const m of roster.members(g)) {
        // Co-teachers: the teacher columns list several, position by position (roster/teachers-cell.ts).
        const teachers = cellValues(roster.column(m, cols.teacher));
        if (!teachers.length) continue;
        const subs = cellValues(roster.column(m, cols.subject));
        const emails = cellValues(roster.column(m, cols.email));
        teachers.forEach((teacher, i) => {
          if (!teacher) return;
          const bySub = subs[i] !== undefined && subs[i] !== '' && subs[i] === claims.sub;
          const byEmail = email !== '' && (norm(emails[i]) === email || norm(teacher) === email);
          if (bySub || byEmail) found.add(teacher);
        });
      }
    }
  }
  if (found.size === 0) return { error: `this account (${claims.email ?? claims.sub}) is not a teacher on any roster` };
  // Two teacher ids for one account is a roster mistake: refuse rather than guess whose classes to show.
  if (found.size > 1) return { error: `this account matches several roster teachers (${[...found].sort().join(', ')}): fix the roster` };
  return { teacher: [...found][0] };
}
