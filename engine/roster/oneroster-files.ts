// Reading an IMS OneRoster 1.1 CSV folder (manifest.csv, users.csv, classes.csv, enrollments.csv, and
// courses.csv / orgs.csv when present): each file's header checked for the columns the import reads, each
// record kept with its line, duplicate sourcedIds reported. Files are bounded like every roster
// (LOFLOW_MAX_ROSTER_MB each); a BOM, CRLF and quoted fields are the norm in SIS exports.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import { parseCsvRecords, stripBom } from './csv-records.js';
import type { RosterProblem } from './source.js';

/** One data row: its columns by header name, and where it is. */
export interface OneRosterRecord {
  get(column: string): string;
  file: string;
  line: number;
}

export interface OneRosterFile {
  file: string;
  /** Absent when the file is not there (optional files) or unreadable. */
  records: OneRosterRecord[];
  present: boolean;
  /** `bulk`, `delta` or `absent` from manifest.csv (`bulk` when there is no manifest). */
  mode: string;
}

/** Columns the import reads: a file without one of these is refused (the spec's header is longer). */
export const requiredColumns: Record<string, string[]> = {
  'users.csv': ['sourcedId', 'role', 'givenName', 'familyName'],
  'classes.csv': ['sourcedId', 'title', 'courseSourcedId', 'classType', 'schoolSourcedId'],
  'enrollments.csv': ['sourcedId', 'classSourcedId', 'schoolSourcedId', 'userSourcedId', 'role'],
  'courses.csv': ['sourcedId', 'title'],
  'orgs.csv': ['sourcedId', 'name', 'type'],
};
const needed = new Set(['users.csv', 'classes.csv', 'enrollments.csv']);

export interface OneRosterFolder {
  files: Map<string, OneRosterFile>;
  problems: RosterProblem[];
  manifest: Map<string, string>;
}

function readManifest(dir: string, problems: RosterProblem[]): Map<string, string> {
  const out = new Map<string, string>();
  const path = join(dir, 'manifest.csv');
  if (!existsSync(path)) {
    problems.push({ severity: 'warning', file: 'manifest.csv', message: 'missing (OneRoster 1.1 requires it): every file is read as a bulk (complete) export' });
    return out;
  }
  const { records } = parseCsvRecords(stripBom(readBoundedText(path, fileLimits.roster(), 'OneRoster manifest')));
  for (const r of records.slice(1)) out.set(r.fields[0]?.trim() ?? '', (r.fields[1] ?? '').trim());
  const version = out.get('oneroster.version');
  if (version && version !== '1.1' && version !== '1.0') problems.push({ severity: 'warning', file: 'manifest.csv', message: `oneroster.version is ${version}; this import reads 1.1 CSV` });
  return out;
}

function readFile(dir: string, name: string, mode: string, problems: RosterProblem[]): OneRosterFile {
  const path = join(dir, name);
  const absent = { file: name, records: [], present: false, mode };
  if (!existsSync(path)) {
    if (needed.has(name) && mode !== 'absent') problems.push({ severity: 'error', file: name, message: 'missing: a roster needs users.csv, classes.csv and enrollments.csv' });
    return absent;
  }
  let text: string;
  try {
    text = stripBom(readBoundedText(path, fileLimits.roster(), 'OneRoster file'));
  } catch (err) {
    problems.push({ severity: 'error', file: name, message: (err as Error).message });
    return absent;
  }
  const parsed = parseCsvRecords(text);
  if (parsed.unclosedQuoteLine) problems.push({ severity: 'error', file: name, line: parsed.unclosedQuoteLine, message: 'a quoted field is never closed: the rest of the file would be one field' });
  const [head, ...rows] = parsed.records;
  if (!head) {
    problems.push({ severity: 'error', file: name, line: 1, message: 'empty: it needs a header row' });
    return absent;
  }
  const header = head.fields.map((h) => h.trim());
  const col = new Map(header.map((h, i) => [h, i]));
  const missing = requiredColumns[name].filter((c) => !col.has(c));
  if (missing.length) {
    problems.push({ severity: 'error', file: name, line: 1, message: `header lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (it has: ${header.join(', ')})` });
    return { ...absent, present: true };
  }
  const records: OneRosterRecord[] = [];
  const seen = new Map<string, number>();
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      problems.push({ severity: 'error', file: name, line: r.line, message: `${r.fields.length} fields where the header has ${header.length} (an unquoted comma?)` });
      continue;
    }
    const get = (c: string) => {
      const i = col.get(c);
      return i === undefined ? '' : r.fields[i].trim();
    };
    const id = get('sourcedId');
    if (!id) {
      problems.push({ severity: 'error', file: name, line: r.line, message: 'empty sourcedId' });
      continue;
    }
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push({ severity: 'error', file: name, line: r.line, message: `duplicate sourcedId '${id}' (first on line ${first})` });
      continue;
    }
    seen.set(id, r.line);
    records.push({ get, file: name, line: r.line });
  }
  return { file: name, records, present: true, mode };
}

/** Read every file the import uses; problems name file and line. */
export function readOneRosterFolder(dir: string): OneRosterFolder {
  const problems: RosterProblem[] = [];
  const manifest = readManifest(dir, problems);
  const files = new Map<string, OneRosterFile>();
  for (const name of Object.keys(requiredColumns)) {
    const mode = manifest.get(`file.${name.replace(/\.csv$/, '')}`) ?? 'bulk';
    files.set(name, readFile(dir, name, mode, problems));
  }
  return { files, problems, manifest };
}

/** `{Google:1234},{LDAP:jdoe}` (users.csv userIds) as type -> identifier. */
export function parseUserIds(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/\{([^:{}]+):([^{}]*)\}/g)) out.set(m[1].trim().toLowerCase(), m[2].trim());
  return out;
}
