// `loflow test --update`: write what the pipeline produced into tests that have no expected value yet (a
// missing field, no `expect`, or `expect: record`). A failing expectation is left alone, and listed, unless
// `force` is given: then it is rewritten to match, keeping the author's shape (subset keys, approx matchers).
import { writeFileSync } from 'node:fs';
import { isMap, parseDocument, type YAMLMap } from '../vendor/yaml.js';
import { refresh, show } from './match.js';
import { hasValue, type Position, type TestSource } from './model.js';
import { describe, type TestOutcome } from './run.js';
import { applyEdits, setPair, type Edit } from './yaml-edit.js';

export interface UpdateNote {
  at: Position;
  what: string;
  message: string;
}

export interface UpdateResult {
  /** Files written. */
  files: string[];
  /** Expectations recorded where there were none. */
  recorded: number;
  /** Failing expectations rewritten (force only). */
  overwritten: number;
  /** What was not written, and why. */
  notes: UpdateNote[];
}

export function applyUpdates(outcomes: TestOutcome[], force: boolean): UpdateResult {
  const result: UpdateResult = { files: [], recorded: 0, overwritten: 0, notes: [] };
  const edits = new Map<TestSource, Edit[]>();
  const add = (source: TestSource, e: Edit) => (edits.get(source) ?? edits.set(source, []).get(source)!).push(e);
  const mapAt = (source: TestSource, path: Array<string | number>): YAMLMap => {
    const node = source.doc.getIn(path, true);
    if (!isMap(node)) throw new Error(`${source.file}: no mapping at ${path.join('.')}`);
    return node;
  };

  for (const o of outcomes) {
    const { test } = o;
    const src = test.source;
    if (o.crashed) {
      result.notes.push({ at: test.at, what: `test '${test.name}'`, message: 'not recorded: the pipeline could not process the input' });
      continue;
    }
    if (!Array.isArray(test.expect)) {
      add(src, setPair(src.text, src.lines, mapAt(src, test.path), 'expect', o.snapshot, 'expect', true));
      result.recorded += o.snapshot.length;
      if (o.snapshot.length === 0) result.notes.push({ at: test.at, what: `test '${test.name}'`, message: 'the input produced nothing: recorded `expect: []`' });
      continue;
    }
    for (const c of o.checked) {
      const x = c.expectation;
      if (c.ok) continue;
      const map = () => mapAt(src, x.path);
      if (!hasValue(x)) {
        if (c.actual === undefined && x.kind === 'reducer') add(src, setPair(src.text, src.lines, map(), 'absent', true));
        else if (c.actual === undefined) {
          result.notes.push({ at: x.at, what: describe(x), message: 'not recorded: there is no such value' });
          continue;
        } else add(src, setPair(src.text, src.lines, map(), x.field!, c.actual));
        result.recorded++;
        continue;
      }
      if (!force) {
        result.notes.push({ at: x.at, what: describe(x), message: `failing, kept as written (actual: ${show(c.actual)}); \`--update --force\` rewrites it` });
        continue;
      }
      if (x.kind === 'rejected') {
        result.notes.push({ at: x.at, what: describe(x), message: 'a rejection that did not happen cannot be rewritten: edit or delete it' });
        continue;
      }
      if (c.actual === undefined && x.kind === 'reducer') add(src, setPair(src.text, src.lines, map(), 'absent', true, x.field));
      else if (c.actual === undefined) {
        result.notes.push({ at: x.at, what: describe(x), message: 'not rewritten: there is no such value' });
        continue;
      } else if (x.field === 'absent') add(src, setPair(src.text, src.lines, map(), 'view', c.actual, 'absent'));
      else add(src, setPair(src.text, src.lines, map(), x.field, refresh(x.value, c.actual, x.opts)));
      result.overwritten++;
    }
    for (const f of o.failures) {
      if (f.message?.startsWith('unexpected rejection')) result.notes.push({ at: f.at, what: f.what, message: `${f.message.split(' (expect it')[0]}: add a \`rejected\` expectation by hand` });
    }
  }

  for (const [source, list] of edits) {
    const text = applyEdits(source.text, list);
    // Never write a file that no longer parses (a bug here must not cost the user their tests).
    const check = parseDocument(text);
    if (check.errors.length) throw new Error(`--update produced invalid YAML for ${source.file} (not written): ${check.errors[0].message}`);
    writeFileSync(source.abs, text);
    result.files.push(source.file);
  }
  return result;
}
