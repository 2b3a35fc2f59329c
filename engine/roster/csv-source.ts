// The plain CSV roster (the default source): one file, a header row, one row per member. Its check
// reports duplicate members and rows with the wrong number of fields, with their lines.
import { resolve } from 'node:path';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import { parseCsvRecords, stripBom } from './csv-records.js';
import type { RosterProblem, RosterSource } from './source.js';

export interface CsvSettings {
  file: string;
  member?: string;
}

export const csvSource: RosterSource<CsvSettings> = {
  name: 'csv',
  summary: 'a CSV file: a header row, then one row per member (student, class, teacher, ...)',
  defaultMember: '',
  settings: { type: 'object', required: ['file'], properties: { file: { type: 'string', minLength: 1 }, member: { type: 'string' } } },
  files: (s, ctx) => [resolve(ctx.baseDir, s.file)],
  read(s, ctx) {
    const file = s.file;
    const problems: RosterProblem[] = [];
    let text: string;
    try {
      text = stripBom(readBoundedText(resolve(ctx.baseDir, file), fileLimits.roster(), `roster '${ctx.name}':`));
    } catch (err) {
      return { problems: [{ severity: 'error', file, message: (err as Error).message }] };
    }
    const parsed = parseCsvRecords(text);
    if (parsed.unclosedQuoteLine) problems.push({ severity: 'error', file, line: parsed.unclosedQuoteLine, message: 'a quoted field is never closed' });
    const [head, ...rows] = parsed.records;
    if (!head) return { problems: [...problems, { severity: 'error', file, line: 1, message: 'empty: it needs a header row' }] };
    const header = head.fields.map((h) => h.trim());
    const member = s.member ?? header[0];
    const m = header.indexOf(member);
    if (m < 0) return { problems: [...problems, { severity: 'error', file, line: 1, message: `no column '${member}' (columns: ${header.join(', ')})` }] };
    const seen = new Map<string, number>();
    const kept: string[][] = [];
    const origins: string[] = [];
    for (const r of rows) {
      if (r.fields.length !== header.length) problems.push({ severity: 'error', file, line: r.line, message: `${r.fields.length} fields where the header has ${header.length}` });
      const id = r.fields[m] ?? '';
      const first = seen.get(id);
      if (id === '') problems.push({ severity: 'error', file, line: r.line, message: `empty ${member}` });
      else if (first !== undefined) problems.push({ severity: 'error', file, line: r.line, message: `duplicate ${member} '${id}' (first on line ${first}); a member has one row` });
      else seen.set(id, r.line);
      kept.push(r.fields);
      origins.push(`${file} line ${r.line}`);
    }
    return { table: { header, rows: kept, origins }, problems, summary: `${seen.size} members` };
  },
};
