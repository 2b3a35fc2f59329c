// The OneRoster 1.1 CSV roster source: the example pipeline compiles with it (one row per student, the
// identity columns, the primary teacher), deltas apply over the bulk export, and every problem of a
// broken export is named with its file and line, by the compiler and by `loflow roster check`.
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { readRosterEntry } from '../../engine/roster/sources.js';
import { Auth } from '../../engine/server/auth.js';
import { matchTeacher } from '../../engine/server/teacher-match.js';
import { root, run } from '../cli/run-cli.js';

const fixtures = join(root, 'test/fixtures/oneroster');
const example = join(root, 'pipelines/examples/writing-observer.oneroster.yaml');
const read = (def: Record<string, unknown>, placement: 'one' | 'any' = 'one') => readRosterEntry({ source: 'oneroster', ...def }, { name: 'school', baseDir: fixtures, placement });

describe('OneRoster 1.1 CSV roster source', () => {
  it('compiles the example pipeline: English sections, one row per current student, identity columns', async () => {
    const { pipeline, errors } = await compilePipelineFile(example);
    expect(errors).toEqual([]);
    const roster = pipeline!.keys.get('class')!.lookup!.roster;
    expect(roster.groups().sort()).toEqual(['cls-eng9-p1', 'cls-eng9-p3']);
    expect(roster.members('cls-eng9-p1')).toEqual(['stu-40101', 'stu-40102', 'stu-40103', 'stu-40104', 'stu-40105']);
    // stu-40106 moved to period 3 (the period 1 enrollment ended); stu-40111 is tobedeleted.
    expect(roster.members('cls-eng9-p3')).toEqual(['stu-40106', 'stu-40107', 'stu-40108', 'stu-40109', 'stu-40110']);
    expect(roster.groupOf('stu-40111')).toBeUndefined();
    // users.csv has a BOM, CRLF lines and a quoted name with a comma.
    expect(roster.column('stu-40105', 'name')).toBe('Jean-Luc Beaumont, III');
    expect(roster.column('stu-40105', 'email')).toBe('s105@students.riverbend.example');
    expect(roster.column('stu-40105', 'google_id')).toBe('1167000000000000105');
    expect(roster.column('stu-40105', 'sis_id')).toBe('40105');
    expect(roster.column('stu-40105', 'section')).toBe('ENG9-01');
    expect(roster.column('stu-40105', 'course')).toBe('ENG9');
    expect(roster.column('stu-40105', 'class_title')).toBe('English 9, Period 1');
    // Period 3's primary teacher is Haddad, listed first; Okafor co-teaches it (and teaches period 1).
    expect(roster.column('stu-40107', 'teacher')).toBe('tch-haddad;tch-okafor');
    expect(roster.column('stu-40107', 'teacher_email')).toBe('shaddad@riverbend.example;nokafor@riverbend.example');
    expect(roster.column('stu-40107', 'teacher_google_id')).toBe('1048000000000000103;1048000000000000101');
    expect(roster.column('stu-40101', 'teacher')).toBe('tch-okafor');
    expect(roster.column('stu-40101', 'teacher_google_id')).toBe('1048000000000000101');
  });

  it('refuses a roster that leaves a student in two classes, naming the enrollment lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-oneroster-'));
    const text = readFileSync(example, 'utf8').replace('classes: { subjects: [English] }', 'classes: { schools: [org-rhs] }').replaceAll('../../test/fixtures', join(root, 'test/fixtures'));
    writeFileSync(join(dir, 'p.yaml'), text);
    const { pipeline, errors } = await compilePipelineFile(join(dir, 'p.yaml'));
    expect(pipeline).toBeUndefined();
    expect(errors.map((e) => e.message).join('\n')).toMatch(/enrollments\.csv:20: student 'stu-40101' is in two selected classes \('cls-eng9-p1' on line 8, 'cls-alg1-p2' here\)/);
  });

  it('keys students by an identity column, refusing rows without one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-oneroster-'));
    cpSync(join(fixtures, 'school'), join(dir, 'school'), { recursive: true });
    const pipelineText = readFileSync(example, 'utf8').replace('../../test/fixtures/oneroster/school', 'school').replace('classes: { subjects: [English] }', 'classes: { subjects: [English] }\n    member: google_id');
    writeFileSync(join(dir, 'p.yaml'), pipelineText);
    const ok = await compilePipelineFile(join(dir, 'p.yaml'));
    expect(ok.errors).toEqual([]);
    expect(ok.pipeline!.keys.get('class')!.lookup!.roster.groupOf('1167000000000000107')).toBe('cls-eng9-p3');
    const users = join(dir, 'school/users.csv');
    writeFileSync(users, readFileSync(users, 'utf8').replace('{Google:1167000000000000103}', ''));
    const { errors } = await compilePipelineFile(join(dir, 'p.yaml'));
    expect(errors.map((e) => e.message).join('\n')).toContain("roster 'school': school/enrollments.csv line 10: no google_id");
  });

  it('selects classes by type, course code and id', () => {
    const homeroom = read({ dir: 'school', classes: { class_type: 'homeroom' } });
    expect(new Set(homeroom.table!.rows.map((r) => r[1]))).toEqual(new Set(['cls-hr-9a']));
    expect(homeroom.table!.rows.every((r) => r[2] === 'tch-lindqvist')).toBe(true);
    const algebra = read({ dir: 'school', classes: { courses: ['ALG1'] } });
    expect(algebra.table!.rows.map((r) => r[0])).toEqual(['stu-40101', 'stu-40103', 'stu-40105', 'stu-40107', 'stu-40109']);
    expect(read({ dir: 'school', classes: { ids: ['cls-eng9-p3'] } }).table!.rows).toHaveLength(5);
  });

  it('applies a delta export: a new student, a changed email, a dropped enrollment', () => {
    const r = read({ dir: 'school', deltas: ['delta'], classes: { subjects: ['English'] } });
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const byId = new Map(r.table!.rows.map((row) => [row[0], row]));
    expect(byId.get('stu-40112')?.[1]).toBe('cls-eng9-p1');
    expect(byId.get('stu-40103')?.[6]).toBe('wei.chen@students.riverbend.example');
    expect(byId.has('stu-40101')).toBe(false);
    // A delta folder given as the bulk export is refused.
    expect(read({ dir: 'delta' }).problems.map((p) => p.message).join('\n')).toMatch(/delta export .*dir must be a bulk export/);
  });

  it('reads the google id from a metadata column when told to', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-oneroster-'));
    cpSync(join(fixtures, 'school'), dir, { recursive: true });
    const users = readFileSync(join(dir, 'users.csv'), 'utf8').split('\r\n');
    writeFileSync(join(dir, 'users.csv'), users.map((l, i) => (l ? `${l},${i === 0 ? 'metadata.google_id' : `g-${i}`}` : l)).join('\r\n'));
    const r = readRosterEntry({ source: 'oneroster', dir, google_id: 'metadata.google_id', classes: { ids: ['cls-eng9-p1'] } }, { name: 'x', baseDir: '/' });
    expect(r.table!.rows[0][7]).toBe('g-6');
  });

  it('names every problem of a broken export with its file and line', () => {
    const r = read({ dir: 'broken' }, 'any');
    const lines = r.problems.filter((p) => p.severity === 'error').map((p) => `${p.file}:${p.line ?? ''}: ${p.message}`);
    expect(lines).toEqual(expect.arrayContaining([
      "broken/users.csv:10: duplicate sourcedId 'stu-40103' (first on line 9)",
      "broken/classes.csv:6: duplicate sourcedId 'cls-eng9-p3' (first on line 3)",
      'broken/classes.csv:7: 15 fields where the header has 14 (an unquoted comma?)',
      "broken/enrollments.csv:31: duplicate sourcedId 'enr-0020' (first on line 21)",
      expect.stringMatching(/^broken\/courses\.csv:1: header lacks column title/),
      "broken/enrollments.csv:9: unknown classSourcedId 'cls-eng9-p2' (not an active class in classes.csv)",
      "broken/enrollments.csv:16: unknown userSourcedId 'stu-40180' (not an active user in users.csv)",
    ]));
    expect(lines).toHaveLength(7);
    expect(r.table).toBeUndefined();
  });

  it('bounds each file by LOFLOW_MAX_ROSTER_MB', () => {
    process.env.LOFLOW_MAX_ROSTER_MB = String(1000 / (1024 * 1024));
    try {
      const r = read({ dir: 'school' });
      expect(r.problems.map((p) => p.message).join('\n')).toMatch(/users\.csv is 2348 bytes: over the 1000 bytes limit \(LOFLOW_MAX_ROSTER_MB raises it\)/);
    } finally {
      delete process.env.LOFLOW_MAX_ROSTER_MB;
    }
  });
});

describe('loflow roster check', () => {
  it('prints the broken export problems in file and line order, exit 1', async () => {
    const r = await run('roster', 'check', 'test/fixtures/oneroster/broken');
    expect(r.code).toBe(1);
    const errors = r.stdout.split('\n').filter((l) => /\.csv:\d+: (?!warning)/.test(l)).map((l) => l.replace(/^.*\/broken\//, ''));
    expect(errors).toEqual([
      'classes.csv:6: duplicate sourcedId \'cls-eng9-p3\' (first on line 3)',
      'classes.csv:7: 15 fields where the header has 14 (an unquoted comma?)',
      expect.stringMatching(/^courses\.csv:1: header lacks column title/),
      "enrollments.csv:9: unknown classSourcedId 'cls-eng9-p2' (not an active class in classes.csv)",
      "enrollments.csv:16: unknown userSourcedId 'stu-40180' (not an active user in users.csv)",
      "enrollments.csv:31: duplicate sourcedId 'enr-0020' (first on line 21)",
      "users.csv:10: duplicate sourcedId 'stu-40103' (first on line 9)",
    ]);
    expect(r.stdout).toMatch(/FAILED roster 'broken' \(oneroster\): 7 errors, 1 warning;/); // the co-teacher is listed, not warned about
  });

  it('a co-teacher reads the class and signs in by the email in their position; others still cannot', async () => {
    const { pipeline } = await compilePipelineFile(example);
    const roster = pipeline!.keys.get('class')!.lookup!.roster;
    const auth = new Auth(pipeline!, {});
    const p3 = roster.groupOf('stu-40107')!;
    expect(auth.mayRead('tch-haddad', roster, p3)).toBe(true);
    expect(auth.mayRead('tch-okafor', roster, p3)).toBe(true);
    expect(auth.mayRead('tch-okafor', roster, roster.groupOf('stu-40101')!)).toBe(true);
    expect(auth.mayRead('tch-haddad', roster, roster.groupOf('stu-40101')!)).toBe(false);
    expect(auth.mayRead('tch-had', roster, p3)).toBe(false);
    expect(matchTeacher(pipeline!, { sub: 'x', email: 'NOkafor@riverbend.example', emailVerified: true })).toEqual({ teacher: 'tch-okafor' });
    expect(matchTeacher(pipeline!, { sub: 'x', email: 'shaddad@riverbend.example', emailVerified: true })).toEqual({ teacher: 'tch-haddad' });
    expect(matchTeacher(pipeline!, { sub: 'x', email: 'shaddad@riverbend.example;nokafor@riverbend.example', emailVerified: true })).toHaveProperty('error');
  });

  it('passes the school export and the example pipeline (co-teachers listed, no warning)', async () => {
    const dir = await run('roster', 'check', 'test/fixtures/oneroster/school');
    expect(dir.code).toBe(0);
    expect(dir.stdout).toMatch(/warning: 10 students are in more than one class/);
    const p = await run('roster', 'check', 'pipelines/examples/writing-observer.oneroster.yaml');
    expect(p.code).toBe(0);
    expect(p.stdout).not.toMatch(/co-teacher/);
    expect(p.stdout).toMatch(/ok roster 'school' \(oneroster\): 0 errors, 0 warnings; 10 students in 2 classes, 2 teachers/);
  });

  it('checks a plain CSV roster: duplicate members with lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-roster-'));
    writeFileSync(join(dir, 'r.csv'), '\ufeffstudent,class,teacher\r\ns1,c1,t1\r\ns2,c1,t1\r\ns1,c2,t2\r\n');
    const r = await run('roster', 'check', join(dir, 'r.csv'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("r.csv:4: duplicate student 's1' (first on line 2); a member has one row");
  });

  it('maps a saved Google Classroom answer: the owner first, then co-teachers; archived courses skipped', () => {
    const r = readRosterEntry({ source: 'google-classroom', file: 'google-classroom/classroom.json' }, { name: 'gc', baseDir: join(root, 'test/fixtures'), placement: 'one' });
    expect(r.problems).toEqual([]);
    expect(r.table!.rows.map((x) => [x[0], x[1], x[2], x[6]])).toEqual([
      ['116700000000000000101', '612000000001', '104800000000000000101', 's101@students.riverbend.example'],
      ['116700000000000000102', '612000000001', '104800000000000000101', 's102@students.riverbend.example'],
      ['116700000000000000106', '612000000002', '104800000000000000103;104800000000000000101', 's106@students.riverbend.example'],
    ]);
    const header = r.table!.header;
    const co = r.table!.rows[2];
    expect(co[header.indexOf('teacher_email')]).toBe('shaddad@riverbend.example;nokafor@riverbend.example');
    expect(co[header.indexOf('teacher_name')]).toBe('Samira Haddad;Ngozi Okafor');
  });
});
