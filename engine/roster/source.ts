// Roster sources: where a pipeline's roster rows come from. Each source is a plain typed object (like an
// operator): a name, a JSON Schema of its settings in the pipeline's `rosters:` entry, and read(), which
// turns its input into one table (a header and one row per member) plus problems with file and line.
// Compiling stays offline and repeatable: a source reads local files only. One that lives on the network
// (Google Classroom, LTI Names and Roles) is saved to a file first (its API's JSON answer) and read from
// there; see README "Deploying for a school" → "Rosters".

export interface RosterTable {
  header: string[];
  /** One row per member, in header order. */
  rows: string[][];
  /** Where each row came from ("enrollments.csv line 7"), for messages; same order as rows. */
  origins: string[];
}

export interface RosterProblem {
  severity: 'error' | 'warning';
  /** The file (as named in the input) and 1-based line, when the problem has one. */
  file?: string;
  line?: number;
  message: string;
}

export interface RosterContext {
  /** The roster's name in the pipeline. */
  name: string;
  /** Relative paths resolve against this folder (the pipeline file's). */
  baseDir: string;
  /** Today, for enrollment begin/end dates (tests pass a fixed day). */
  now?: Date;
  /**
   * `one` (compiling a pipeline): a member in two selected groups is an error, the class key gives each
   * member one group. `any` (`roster check` of a bare export): the first wins, and one warning counts them.
   */
  placement?: 'one' | 'any';
}

export interface RosterRead {
  /** Absent when errors make a table impossible. */
  table?: RosterTable;
  problems: RosterProblem[];
  /** Counts for a report line ("48 students in 4 classes, 3 teachers"). */
  summary?: string;
}

export interface RosterSource<S = Record<string, unknown>> {
  /** The `source:` value in a pipeline's roster entry. */
  name: string;
  summary: string;
  /** JSON Schema of the entry's settings (validated before read). */
  settings: Record<string, unknown>;
  /** The member column when the entry names none. */
  defaultMember: string;
  /** The files it reads, absolute (watch, roster check). */
  files(settings: S, ctx: RosterContext): string[];
  read(settings: S, ctx: RosterContext): RosterRead;
}

/** `file:line: message` (or just the message), the form every roster problem is printed in. */
export function formatProblem(p: RosterProblem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : '';
  return `${where}${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}
