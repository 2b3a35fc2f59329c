import { SUMMARY, shadowDiff, type CellChange } from '../shadow/diff.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow diff <old.yaml> <new.yaml> (--archive x.car | --events x.ndjson) [options]

A shadow run: replays the same input through both pipelines, in memory (no state store is touched), and
prints per dashboard and class every value a teacher would see change: one line per student and column
(or (summary) value), old and new. (none) means the cell does not exist on that side.

Options:
  --archive x.car     an exported archive (loflow archive export): its raw source streams in log order
  --events x.ndjson   events, one per line: bare events for the old pipeline's first source, or
                      {"stream": s, "event": e}
  --json              the changes as a JSON array of {dashboard, class, student, column, old, new}
  --limit N           print at most N lines per class (default 20; all with --json)
  --help              this text
Exit 0 when nothing differs, 1 when something does, 2 on bad arguments.`;

const show = (v: unknown) => (v === undefined ? '(none)' : typeof v === 'number' && !Number.isInteger(v) ? String(Math.round(v * 1000) / 1000) : JSON.stringify(v));

export const diffCommand: Command = {
  name: 'diff',
  summary: 'shadow run: replay one input through two pipeline versions and show what dashboards would change',
  usage,
  flags: ['json'],
  async run({ positionals, options }) {
    const [a, b] = positionals;
    const input = typeof options.archive === 'string' ? options.archive : typeof options.events === 'string' ? options.events : undefined;
    if (!b || !input || (options.archive && options.events)) {
      console.error(`need two pipelines and one of --archive or --events\n\n${usage}`);
      return 2;
    }
    if (options.archive && !input.endsWith('.car')) {
      console.error(`--archive takes a .car file (loflow archive export --out x.car makes one): '${input}'`);
      return 2;
    }
    const limit = options.limit === undefined ? 20 : Number(options.limit);
    if (!Number.isInteger(limit) || limit < 0) {
      console.error(`--limit must be a whole number, not '${options.limit}'`);
      return 2;
    }
    const before = await loadPipeline(a);
    const after = await loadPipeline(b);
    if (!before || !after) return 1;
    const r = await shadowDiff(before, after, input);
    console.error(
      `replayed ${r.events} events through both` +
        (r.notJson ? `, ${r.notJson} lines not JSON` : '') +
        (r.rejected.old || r.rejected.new ? `, refused by schema: ${r.rejected.old} old, ${r.rejected.new} new` : '') +
        (r.skipped.old || r.skipped.new ? `, no such source: ${r.skipped.old} old, ${r.skipped.new} new` : ''),
    );
    for (const e of r.firstErrors) console.error(`  ${e}`);
    if (options.json) {
      console.log(JSON.stringify(r.changes, null, 2));
      return r.changes.length ? 1 : 0;
    }
    if (r.changes.length === 0) {
      console.log('no differences: every dashboard shows the same values');
      return 0;
    }
    const byTable = new Map<string, CellChange[]>();
    for (const c of r.changes) {
      const k = `${c.dashboard}\0${c.class}`;
      byTable.set(k, [...(byTable.get(k) ?? []), c]);
    }
    for (const changes of byTable.values()) {
      const { dashboard, class: group } = changes[0];
      const students = new Set(changes.filter((c) => c.student !== SUMMARY).map((c) => c.student)).size;
      console.log(`dashboard ${dashboard}, class ${group}: ${changes.length} values differ (${students} students)`);
      // Values that changed come before cells that only appear or disappear (a new or removed column).
      const both = (c: CellChange) => (c.old !== undefined && c.new !== undefined ? 0 : 1);
      const rows = [...changes].sort((x, y) => both(x) - both(y)).slice(0, limit).map((c) => [c.student, c.column, show(c.old), show(c.new)]);
      const head = ['student', 'column', 'old', 'new'];
      const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
      for (const row of [head, ...rows]) console.log('  ' + row.map((x, i) => (i === 3 ? x : x.padEnd(width[i]))).join('  '));
      if (changes.length > limit) console.log(`  ... ${changes.length - limit} more (--limit N or --json for all)`);
    }
    const classes = byTable.size;
    const dashboards = new Set(r.changes.map((c) => c.dashboard)).size;
    console.log(`${r.changes.length} values differ in ${classes} classes of ${dashboards} dashboards`);
    return 1;
  },
};
