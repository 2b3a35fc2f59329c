// Rosters: CSV files that map members (students) to groups (classes) and carry other columns (teacher).
import { fileLimits, readBoundedText } from './bounded-read.js';
import type { Roster } from './types.js';
import { parseCsvRecords } from './roster/csv-records.js';

/** Parse CSV with quoted fields ("a, b", "say ""hi"""), CRLF or LF (the records without their lines). */
export function parseCsv(text: string): string[][] {
  return parseCsvRecords(text).records.map((r) => r.fields);
}

/**
 * Load a roster. `member` names the member id column (default: the first column); `group` is resolved
 * per lookup key (the key's `column`), so one roster can serve several lookups.
 */
export function loadRoster(name: string, file: string, memberColumn?: string): CsvRoster {
  const rows = parseCsv(readBoundedText(file, fileLimits.roster(), `roster '${name}':`));
  if (rows.length === 0) throw new Error(`roster '${name}' (${file}) is empty: it needs a header row`);
  return new CsvRoster(name, rows[0], rows.slice(1), memberColumn ?? rows[0][0]);
}

export class CsvRoster {
  private readonly byMember = new Map<string, string[]>();
  private readonly col: Map<string, number>;
  constructor(
    readonly name: string,
    readonly header: string[],
    rows: string[][],
    readonly memberColumn: string,
  ) {
    this.col = new Map(header.map((h, i) => [h.trim(), i]));
    const m = this.col.get(memberColumn);
    if (m === undefined) throw new Error(`roster '${name}' has no column '${memberColumn}' (columns: ${header.join(', ')})`);
    for (const r of rows) this.byMember.set(r[m], r);
  }

  hasColumn(column: string): boolean {
    return this.col.has(column);
  }

  column(member: string, column: string): string | undefined {
    const i = this.col.get(column);
    const r = this.byMember.get(member);
    return i === undefined || !r ? undefined : r[i];
  }

  /** The Roster view of one grouping column (e.g. class). */
  groupedBy(column: string): Roster {
    const groups = new Map<string, string[]>();
    for (const member of this.byMember.keys()) {
      const g = this.column(member, column);
      if (g === undefined || g === '') continue;
      const list = groups.get(g) ?? [];
      list.push(member);
      groups.set(g, list);
    }
    return {
      name: this.name,
      groupOf: (member) => {
        const g = this.column(member, column);
        return g === '' ? undefined : g;
      },
      members: (group) => groups.get(group) ?? [],
      groups: () => [...groups.keys()],
      column: (member, c) => this.column(member, c),
    };
  }
}
