// Google Classroom, from a saved API answer (compiling never reaches the network): a JSON file with the
// courses.list answer and, per course, its courses.students.list and courses.teachers.list answers:
//   { "courses": [{ "id", "name", "section", "ownerId", "courseState" }],
//     "students": { "<courseId>": [{ "userId", "profile": { "name": { "givenName", "familyName", "fullName" }, "emailAddress" } }] },
//     "teachers": { "<courseId>": [ ...same shape... ] } }
// The Google user id is what the Writing Observer extension's chromebook identity carries (gc-<id>).
import { resolve } from 'node:path';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import type { RosterProblem, RosterSource } from './source.js';

interface Person {
  userId?: string;
  profile?: { id?: string; name?: { givenName?: string; familyName?: string; fullName?: string }; emailAddress?: string };
}
interface Saved {
  courses?: Array<{ id?: string; name?: string; section?: string; ownerId?: string; courseState?: string }>;
  students?: Record<string, Person[]>;
  teachers?: Record<string, Person[]>;
}

export const googleClassroomColumns = ['student', 'class', 'teacher', 'name', 'given_name', 'family_name', 'email', 'google_id', 'class_title', 'section', 'teacher_name', 'teacher_email', 'teacher_google_id'];

const idOf = (p: Person) => p.userId ?? p.profile?.id ?? '';
const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

export const googleClassroomSource: RosterSource<{ file: string; courses?: string[] }> = {
  name: 'google-classroom',
  summary: 'a saved Google Classroom API answer (courses, their students and teachers) as JSON',
  defaultMember: 'student',
  settings: { type: 'object', required: ['file'], properties: { file: { type: 'string', minLength: 1 }, courses: { type: 'array', items: { type: 'string' } } } },
  files: (s, ctx) => [resolve(ctx.baseDir, s.file)],
  read(s, ctx) {
    const file = s.file;
    let saved: Saved;
    try {
      saved = JSON.parse(readBoundedText(resolve(ctx.baseDir, file), fileLimits.roster(), `roster '${ctx.name}':`)) as Saved;
    } catch (err) {
      return { problems: [{ severity: 'error', file, message: (err as Error).message }] };
    }
    const problems: RosterProblem[] = [];
    const rows: string[][] = [];
    const origins: string[] = [];
    const placed = new Map<string, string>();
    for (const c of saved.courses ?? []) {
      if (!c.id || c.courseState === 'ARCHIVED' || c.courseState === 'DECLINED' || (s.courses && !s.courses.includes(c.id))) continue;
      const teachers = has(saved.teachers ?? {}, c.id) ? saved.teachers![c.id] : [];
      // The course owner first, then the co-teachers in the API's order: every one reads the dashboard (the
      // teacher columns list them with `;`, roster/teachers-cell.ts).
      const owner = teachers.find((p) => idOf(p) === c.ownerId);
      const ts = (owner ? [owner, ...teachers.filter((p) => p !== owner)] : teachers).filter((p) => idOf(p) && !idOf(p).includes(';'));
      const col = (f: (p: Person) => string) => ts.map((p) => f(p).replaceAll(';', ',')).join(';');
      if (!ts.length) problems.push({ severity: 'warning', file, message: `course '${c.id}' lists no teacher: no teacher can read its dashboard` });
      for (const p of has(saved.students ?? {}, c.id) ? saved.students![c.id] : []) {
        const id = idOf(p);
        if (!id) continue;
        if (placed.has(id)) {
          if (ctx.placement === 'any') continue;
          problems.push({ severity: 'error', file, message: `student '${id}' is in courses '${placed.get(id)}' and '${c.id}'; list the pipeline's courses under courses:` });
          continue;
        }
        placed.set(id, c.id);
        const n = p.profile?.name ?? {};
        rows.push([id, c.id, col(idOf), n.fullName ?? '', n.givenName ?? '', n.familyName ?? '', (p.profile?.emailAddress ?? '').toLowerCase(), id, c.name ?? '', c.section ?? '', col((t) => t.profile?.name?.fullName ?? ''), col((t) => (t.profile?.emailAddress ?? '').toLowerCase()), col(idOf)]);
        origins.push(`${file} course ${c.id}`);
      }
    }
    if (problems.some((p) => p.severity === 'error')) return { problems };
    return { table: { header: googleClassroomColumns, rows, origins }, problems, summary: `${rows.length} students in ${new Set(rows.map((r) => r[1])).size} courses` };
  },
};
