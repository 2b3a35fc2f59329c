// Which OneRoster classes a pipeline's roster keeps: a whole-school export has every class of every
// student, a writing dashboard wants the English sections (or the homerooms).
import type { OneRosterRecord } from './oneroster-files.js';

export interface ClassSelection {
  /** Class sourcedIds. */
  ids?: string[];
  class_type?: 'homeroom' | 'scheduled';
  /** Any of these in the class's `subjects` (comma-separated there). */
  subjects?: string[];
  /** Course sourcedIds or courseCodes. */
  courses?: string[];
  /** School (org) sourcedIds. */
  schools?: string[];
}

const list = (text: string) => text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

/** A predicate over classes.csv records; every given criterion must hold. */
export function classFilter(sel: ClassSelection, courses: Map<string, OneRosterRecord>): (c: OneRosterRecord) => boolean {
  const subjects = sel.subjects?.map((s) => s.toLowerCase());
  return (c) => {
    if (sel.ids && !sel.ids.includes(c.get('sourcedId'))) return false;
    if (sel.class_type && c.get('classType').toLowerCase() !== sel.class_type) return false;
    if (sel.schools && !sel.schools.includes(c.get('schoolSourcedId'))) return false;
    if (subjects && !list(c.get('subjects')).some((s) => subjects.includes(s))) return false;
    if (sel.courses) {
      const id = c.get('courseSourcedId');
      const code = courses.get(id)?.get('courseCode');
      if (!sel.courses.includes(id) && !(code && sel.courses.includes(code))) return false;
    }
    return true;
  };
}
