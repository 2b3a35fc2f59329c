// CSV records with the line each starts on: `roster check` and the OneRoster import name lines in their
// messages, and a quoted field may span lines, so a record's line is not its index.

export interface CsvRecord {
  fields: string[];
  /** 1-based line of the file where the record starts. */
  line: number;
}

export interface CsvParse {
  records: CsvRecord[];
  /** The line of a quote that is never closed (the rest of the file was read as one field). */
  unclosedQuoteLine?: number;
}

/** Parse CSV with quoted fields ("a, b", "say ""hi"""), CRLF, LF or CR; blank lines are skipped. */
export function parseCsvRecords(text: string): CsvParse {
  const records: CsvRecord[] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let quoteLine = 0;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) line++;
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
      quoteLine = line;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.length > 1 || row[0] !== '') records.push({ fields: row, line: start });
      row = [];
      field = '';
      line++;
      start = line;
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    records.push({ fields: row, line: start });
  }
  return quoted ? { records, unclosedQuoteLine: quoteLine } : { records };
}

/** Text without a leading UTF-8 byte order mark (spreadsheet exports often start with one). */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
