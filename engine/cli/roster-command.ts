// `loflow roster check FILE`: what a school's export would do to a pipeline before it is deployed:
// unknown references, duplicates, missing columns and rows that do not parse, each with file and line.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse } from '../vendor/yaml.js';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import { formatProblem, type RosterRead } from '../roster/source.js';
import { readRosterEntry } from '../roster/sources.js';
import type { Command } from './command.js';

const usage = `loflow roster check <FILE> [options]

Reads a roster the way a pipeline would and prints every problem as file:line: message (warnings say
so), then one summary line. Exit 1 when there is an error (a pipeline naming it would not compile).

FILE is one of:
  a folder (or a file in it)   an IMS OneRoster 1.1 CSV export: manifest.csv, users.csv, classes.csv,
                               enrollments.csv (courses.csv, orgs.csv when present); unzip it first
  x.csv                        a plain roster CSV (header row; one row per member)
  x.json                       a saved Google Classroom answer (README: Deploying for a school, Rosters)
  pipeline.yaml                every roster the pipeline names, with its settings (classes: ...)

Options:
  --member COL     the member column of a plain CSV (default: its first column)
  --subject S      OneRoster: keep classes of subject S (repeatable), as a pipeline's classes: would
  --class-type T   OneRoster: homeroom or scheduled
  --help           this text`;

function many(argv: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) if (argv[i] === `--${name}` && i + 1 < argv.length) out.push(argv[++i]);
  return out;
}

/** The roster entries FILE stands for: name -> settings, and the folder relative paths resolve in. */
function entriesOf(file: string, argv: string[], options: Record<string, string | boolean>): { baseDir: string; entries: Array<[string, Record<string, unknown>]>; oneClass: boolean } {
  const path = resolve(file);
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') {
    const spec = parse(readBoundedText(path, fileLimits.source(), 'pipeline')) as { rosters?: Record<string, Record<string, unknown>> } | null;
    return { baseDir: dirname(path), entries: Object.entries(spec?.rosters ?? {}), oneClass: true };
  }
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const oneRosterFile = !isDir && ext === '.csv' && existsSync(resolve(dirname(path), 'enrollments.csv')) && existsSync(resolve(dirname(path), 'users.csv'));
  if (isDir || oneRosterFile) {
    const classes: Record<string, unknown> = {};
    const subjects = many(argv, 'subject');
    if (subjects.length) classes.subjects = subjects;
    if (typeof options['class-type'] === 'string') classes.class_type = options['class-type'];
    const selected = Object.keys(classes).length > 0;
    // Paths as given (relative to the working folder): messages name the files the way the user did.
    return { baseDir: process.cwd(), entries: [[basename(isDir ? path : dirname(path)), { source: 'oneroster', dir: isDir ? file : dirname(file), ...(selected ? { classes } : {}) }]], oneClass: selected };
  }
  if (ext === '.json') return { baseDir: process.cwd(), entries: [[basename(path), { source: 'google-classroom', file }]], oneClass: false };
  return { baseDir: process.cwd(), entries: [[basename(path), { file, ...(typeof options.member === 'string' ? { member: options.member } : {}) }]], oneClass: true };
}

export const rosterCommand: Command = {
  name: 'roster',
  summary: 'check a roster (OneRoster export, CSV, saved Google Classroom answer): problems with file:line',
  usage,
  async run({ positionals, options, argv }) {
    const [sub, file] = positionals;
    if (sub !== 'check' || !file) {
      console.error(usage);
      return 2;
    }
    if (!existsSync(file)) {
      console.error(`loflow roster check: no such file or folder: ${file}`);
      return 1;
    }
    const { baseDir, entries, oneClass } = entriesOf(file, argv, options);
    if (!entries.length) {
      console.error(`${file}: names no rosters`);
      return 1;
    }
    let errors = 0;
    for (const [name, def] of entries) {
      let r: RosterRead;
      try {
        r = readRosterEntry(def, { name, baseDir, placement: oneClass ? 'one' : 'any' });
      } catch (err) {
        r = { problems: [{ severity: 'error', message: (err as Error).message }] };
      }
      const order = (p: { file?: string; line?: number }) => `${p.file ?? ''}\0${String(p.line ?? 0).padStart(9, '0')}`;
      for (const p of [...r.problems].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0))) console.log(formatProblem(p));
      const n = r.problems.filter((p) => p.severity === 'error').length;
      const w = r.problems.length - n;
      errors += n;
      const counts = `${n} error${n === 1 ? '' : 's'}, ${w} warning${w === 1 ? '' : 's'}`;
      console.log(`${n ? 'FAILED' : 'ok'} roster '${name}' (${def.source ?? 'csv'}): ${counts}${r.summary ? `; ${r.summary}` : ''}`);
    }
    return errors ? 1 : 0;
  },
};
