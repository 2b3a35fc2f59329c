// Research consent: which students' data may go into a research export. The source is a CSV: a consent file
// (`id,consent[,date]`) or a roster CSV with a `consent` or `research_consent` column. A student not listed,
// or listed with anything but a yes, has not consented: consent is opt-in, and withdrawing it is writing
// `no` (the row stays, so `consent recalls` can name the exports that included the student).
import { readBoundedText, fileLimits } from '../engine/bounded-read.js';
import { parseCsvRecords, stripBom } from '../engine/roster/csv-records.js';

export const CONSENT_COLUMNS = ['consent', 'research_consent'];
const YES = new Set(['yes', 'y', 'true', '1', 'granted', 'given']);
const NO = new Set(['no', 'n', 'false', '0', 'withdrawn', 'refused', 'denied', '']);

export interface ConsentList {
  file: string;
  /** The file's bytes (their CID is recorded with each research export). */
  bytes: Buffer;
  /** Ids with a yes. */
  consented: Set<string>;
  /** Ids listed with a no (withdrawn or refused). */
  declined: Set<string>;
  /** When a row says (its `date` column), per id. */
  dates: Map<string, string>;
}

export interface ConsentOptions {
  /** The id column (default: `id`, `student`, `member`, else the first column). */
  idColumn?: string;
  /** The consent column (default: consent, else research_consent). */
  column?: string;
}

/** Reads and checks a consent source; every problem is an Error naming file and line. */
export function loadConsent(file: string, opts: ConsentOptions = {}): ConsentList {
  const text = stripBom(readBoundedText(file, fileLimits.roster()));
  const { records, unclosedQuoteLine } = parseCsvRecords(text);
  if (unclosedQuoteLine) throw new Error(`${file}:${unclosedQuoteLine}: a quote is never closed`);
  if (!records.length) throw new Error(`${file}: empty: a consent file has a header (id,consent[,date]) and one row per student`);
  const header = records[0].fields.map((h) => h.trim().toLowerCase());
  const find = (name: string) => header.indexOf(name.toLowerCase());
  const consentAt = opts.column ? find(opts.column) : CONSENT_COLUMNS.map(find).find((i) => i >= 0) ?? -1;
  if (consentAt < 0) {
    throw new Error(`${file}:1: no ${opts.column ? `'${opts.column}'` : 'consent or research_consent'} column (the header has: ${header.join(', ')})`);
  }
  const idAt = opts.idColumn ? find(opts.idColumn) : ['id', 'student', 'member'].map(find).find((i) => i >= 0) ?? 0;
  if (idAt < 0) throw new Error(`${file}:1: no '${opts.idColumn}' column (the header has: ${header.join(', ')})`);
  const dateAt = find('date');
  const list: ConsentList = { file, bytes: Buffer.from(text), consented: new Set(), declined: new Set(), dates: new Map() };
  const seen = new Map<string, number>();
  for (const { fields, line } of records.slice(1)) {
    const id = (fields[idAt] ?? '').trim();
    if (!id) throw new Error(`${file}:${line}: no student id`);
    if (seen.has(id)) throw new Error(`${file}:${line}: '${id}' is listed twice (first on line ${seen.get(id)}): one row per student`);
    seen.set(id, line);
    const value = (fields[consentAt] ?? '').trim().toLowerCase();
    if (YES.has(value)) list.consented.add(id);
    else if (NO.has(value)) list.declined.add(id);
    else throw new Error(`${file}:${line}: consent '${fields[consentAt]}' for '${id}' is neither yes nor no`);
    const date = dateAt >= 0 ? (fields[dateAt] ?? '').trim() : '';
    if (date) {
      if (!Number.isFinite(Date.parse(date))) throw new Error(`${file}:${line}: '${date}' is not a date (YYYY-MM-DD)`);
      list.dates.set(id, date);
    }
  }
  return list;
}
