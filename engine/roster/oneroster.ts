// The OneRoster 1.1 CSV roster source: students, their class (a OneRoster class is a section of a course),
// the class's teacher, and the identity columns the identity mapping needs (email, SIS id, Google id).
// One row per student: a pipeline's class key gives each student one class, so `classes:` narrows the
// export to the classes the pipeline is for, and a student left in two of them is an error, not a guess.
import { resolve } from 'node:path';
import { readOneRosterFolder, type OneRosterRecord } from './oneroster-files.js';
import { classFilter, type ClassSelection } from './oneroster-classes.js';
import { applyDeltas } from './oneroster-delta.js';
import { personColumns, teachersByClass } from './oneroster-people.js';
import type { RosterProblem, RosterSource } from './source.js';

export interface OneRosterSettings {
  /** The folder of the (unzipped) bulk export. */
  dir: string;
  /** Delta exports applied in order over it (each a folder). */
  deltas?: string[];
  classes?: ClassSelection;
  /** users.csv userIds type holding the Google id (default Google), or a metadata column. */
  google_id?: string;
}

/** The table's columns (README "Rosters" lists them). */
export const oneRosterColumns = [
  'student', 'class', 'teacher', 'name', 'given_name', 'family_name', 'email', 'google_id', 'sis_id', 'username',
  'class_title', 'section', 'course', 'course_title', 'school', 'teacher_name', 'teacher_email', 'teacher_sis_id', 'teacher_google_id',
];

const active = (r: OneRosterRecord) => r.get('status').toLowerCase() !== 'tobedeleted';

export const oneRosterSource: RosterSource<OneRosterSettings> = {
  name: 'oneroster',
  summary: 'an IMS OneRoster 1.1 CSV export (users, classes, enrollments; courses and orgs when present)',
  defaultMember: 'student',
  settings: {
    type: 'object',
    required: ['dir'],
    properties: {
      dir: { type: 'string', minLength: 1 },
      deltas: { type: 'array', items: { type: 'string', minLength: 1 } },
      google_id: { type: 'string', minLength: 1 },
      classes: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ids: { type: 'array', items: { type: 'string' } },
          class_type: { enum: ['homeroom', 'scheduled'] },
          subjects: { type: 'array', items: { type: 'string' } },
          courses: { type: 'array', items: { type: 'string' } },
          schools: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
  files(s, ctx) {
    const dirs = [s.dir, ...(s.deltas ?? [])].map((d) => resolve(ctx.baseDir, d));
    return dirs.flatMap((d) => ['manifest.csv', 'users.csv', 'classes.csv', 'enrollments.csv', 'courses.csv', 'orgs.csv'].map((f) => resolve(d, f)));
  },
  read(s, ctx) {
    const base = readOneRosterFolder(resolve(ctx.baseDir, s.dir));
    const problems: RosterProblem[] = [...base.problems];
    for (const f of base.files.values()) {
      if (f.mode === 'delta') problems.push({ severity: 'error', file: f.file, message: `${s.dir} is a delta export (manifest file.${f.file.replace('.csv', '')}=delta): dir must be a bulk export; list deltas under deltas:` });
    }
    const files = applyDeltas(base.files, (s.deltas ?? []).map((d) => ({ dir: d, folder: readOneRosterFolder(resolve(ctx.baseDir, d)) })), problems);
    const users = new Map(files.users.filter(active).map((u) => [u.get('sourcedId'), u]));
    const courses = new Map(files.courses.filter(active).map((c) => [c.get('sourcedId'), c]));
    const orgs = new Set(files.orgs.filter(active).map((o) => o.get('sourcedId')));
    const classes = new Map(files.classes.filter(active).map((c) => [c.get('sourcedId'), c]));
    const selected = classFilter(s.classes ?? {}, courses);
    const now = (ctx.now ?? new Date()).toISOString().slice(0, 10);
    const current = (e: OneRosterRecord) => active(e) && (!e.get('beginDate') || e.get('beginDate') <= now) && (!e.get('endDate') || e.get('endDate') >= now);

    // References first: every problem with its line, whatever the selection.
    const at = (r: OneRosterRecord, message: string, severity: 'error' | 'warning' = 'error') => problems.push({ severity, file: r.file, line: r.line, message });
    for (const c of files.classes) {
      if (files.courses.length && !courses.has(c.get('courseSourcedId'))) at(c, `unknown courseSourcedId '${c.get('courseSourcedId')}' (not in courses.csv)`);
      if (files.orgs.length && !orgs.has(c.get('schoolSourcedId'))) at(c, `unknown schoolSourcedId '${c.get('schoolSourcedId')}' (not in orgs.csv)`);
    }
    for (const e of files.enrollments.filter(active)) {
      if (!classes.has(e.get('classSourcedId'))) at(e, `unknown classSourcedId '${e.get('classSourcedId')}' (not an active class in classes.csv)`);
      if (!users.has(e.get('userSourcedId'))) at(e, `unknown userSourcedId '${e.get('userSourcedId')}' (not an active user in users.csv)`);
    }

    const rows: string[][] = [];
    const origins: string[] = [];
    const placed = new Map<string, OneRosterRecord>();
    const teacherOf = teachersByClass(files.enrollments.filter(current), users, problems);
    const teachers = new Set<string>();
    const used = new Set<string>();
    const multi = new Set<string>();
    for (const e of files.enrollments) {
      const c = classes.get(e.get('classSourcedId'));
      const u = users.get(e.get('userSourcedId'));
      if (!c || !u || !current(e) || e.get('role').toLowerCase() !== 'student' || !selected(c)) continue;
      if (u.get('role').toLowerCase() !== 'student') at(e, `enrolled as a student, but users.csv line ${u.line} gives role '${u.get('role')}'`, 'warning');
      const before = placed.get(u.get('sourcedId'));
      if (before && ctx.placement === 'any') {
        multi.add(u.get('sourcedId'));
        continue;
      }
      if (before) {
        at(e, `student '${u.get('sourcedId')}' is in two selected classes ('${before.get('classSourcedId')}' on line ${before.line}, '${c.get('sourcedId')}' here); a dashboard class key gives a student one class: narrow the roster's classes: setting`);
        continue;
      }
      placed.set(u.get('sourcedId'), e);
      const ts = teacherOf.get(c.get('sourcedId')) ?? [];
      for (const t of ts) teachers.add(t.get('sourcedId'));
      if (!ts.length && !used.has(c.get('sourcedId'))) at(c, `class '${c.get('sourcedId')}' has no teacher enrollment: no teacher can read its dashboard`, 'warning');
      used.add(c.get('sourcedId'));
      const course = courses.get(c.get('courseSourcedId'));
      const person = personColumns(u, s.google_id);
      // Co-teachers: each teacher column lists them all, position by position (roster/teachers-cell.ts).
      const people = ts.map((t) => personColumns(t, s.google_id));
      const col = (f: (p: (typeof people)[number]) => string) => people.map((p) => f(p).replaceAll(';', ',')).join(';');
      rows.push([
        u.get('sourcedId'), c.get('sourcedId'), ts.map((t) => t.get('sourcedId')).join(';'), person.name, u.get('givenName'), u.get('familyName'), person.email, person.google_id, person.sis_id, person.username,
        c.get('title'), c.get('classCode'), course?.get('courseCode') || c.get('courseSourcedId'), course?.get('title') ?? '', c.get('schoolSourcedId'),
        col((p) => p.name), col((p) => p.email), col((p) => p.sis_id), col((p) => p.google_id),
      ]);
      origins.push(`${e.file.includes('/') ? e.file : `${s.dir.replace(/\/$/, '')}/${e.file}`} line ${e.line}`);
    }
    if (multi.size) problems.push({ severity: 'warning', file: 'enrollments.csv', message: `${multi.size} students are in more than one class: a pipeline's roster must select one class per student (classes: subjects, courses, class_type, ids, schools)` });
    if (rows.length === 0 && !problems.some((p) => p.severity === 'error')) problems.push({ severity: 'error', file: 'enrollments.csv', message: 'no current student enrollment in the selected classes' });
    // Problems name the file as the pipeline (or roster check) does: <dir>/users.csv.
    for (const p of problems) if (p.file && !p.file.includes('/')) p.file = `${s.dir.replace(/\/$/, '')}/${p.file}`;
    const summary = `${rows.length} students in ${used.size} classes, ${teachers.size} teachers`;
    if (problems.some((p) => p.severity === 'error')) return { problems, summary };
    return { table: { header: oneRosterColumns, rows, origins }, problems, summary };
  },
};
