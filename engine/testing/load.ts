// Find and check a pipeline's tests: its `tests:` section and `<name>.test.yaml` beside it. Every problem is
// reported at file:line:col (like the compiler's errors), all at once, before any test runs.
import { existsSync } from 'node:fs';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import { basename, dirname, join, resolve } from 'node:path';
import { isScalar, LineCounter, parseDocument } from '../vendor/yaml.js';
import type { ErrorObject } from 'ajv';
import { didYouMean, SourceMap, type Path } from '../compiler/source-map.js';
import { testFileSchemaValidator } from '../compiler/shipped-schemas.js';
import type { CompiledPipeline, Json, PipelineError } from '../types.js';
import type { ArrayMode, MatchMode } from './match.js';
import type { Expectation, PipelineTest, Position, TestSource } from './model.js';

/** The test-file schema: `$defs/testFile` of the pipeline schema (the one editors use), precompiled at build. */
const validateTestFile = testFileSchemaValidator;

/** `pipelines/x.yaml` -> `pipelines/x.test.yaml` */
export function testFileOf(pipelineFile: string): string {
  return join(dirname(pipelineFile), basename(pipelineFile).replace(/\.ya?ml$/, '') + '.test.yaml');
}

export interface LoadedTests {
  tests: PipelineTest[];
  errors: PipelineError[];
  /** The files the tests came from. */
  sources: TestSource[];
}

/**
 * Load the tests of a compiled pipeline. `file` is the pipeline path as the user wrote it (messages use it);
 * `testFile` defaults to `<name>.test.yaml` beside it.
 */
export function loadTests(pipeline: CompiledPipeline, file: string, testFile = testFileOf(file)): LoadedTests {
  const out: LoadedTests = { tests: [], errors: [], sources: [] };
  if (Array.isArray(pipeline.spec.tests)) {
    const source = sourceOf(file, resolve(file), pipeline.text, true);
    out.sources.push(source);
    // The compiler has checked the section's shape against the schema already.
    collect(pipeline, source, pipeline.spec.tests, out);
  }
  if (existsSync(testFile)) {
    let text: string;
    try {
      text = readBoundedText(testFile, fileLimits.source());
    } catch (err) {
      out.errors.push({ file: testFile, line: 1, column: 1, path: '', message: `cannot read test file: ${(err as Error).message}` });
      return out;
    }
    const source = sourceOf(testFile, resolve(testFile), text, false);
    const map = new SourceMap(testFile, source.doc, source.lines);
    const before = out.errors.length;
    for (const e of source.doc.errors) {
      const pos = source.lines.linePos(e.pos[0]);
      out.errors.push({ file: testFile, line: pos.line, column: pos.col, path: '', message: `YAML: ${e.message.split(' at line')[0]}` });
    }
    if (out.errors.length === before) {
      const spec = source.doc.toJS() as unknown;
      const validate = validateTestFile();
      if (!validate(spec)) out.errors.push(...schemaErrors(validate.errors ?? [], map));
      else {
        out.sources.push(source);
        collect(pipeline, source, (spec as { tests: unknown[] }).tests, out);
      }
    }
  }
  const seen = new Map<string, Position>();
  for (const t of out.tests) {
    const first = seen.get(t.name);
    if (first) out.errors.push({ ...t.at, path: t.path.join('.'), message: `duplicate test name '${t.name}' (first at ${first.file}:${first.line})` });
    else seen.set(t.name, t.at);
  }
  return out;
}

function sourceOf(file: string, abs: string, text: string, inline: boolean): TestSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  return { file, abs, text, doc, lines, inline };
}

/** ajv errors as positioned messages; one per value for `oneOf` (`expect` is `record` or a list). */
function schemaErrors(errors: ErrorObject[], map: SourceMap): PipelineError[] {
  const oneOf = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const out: PipelineError[] = [];
  for (const e of errors) {
    const path: Path = e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
    if (oneOf.has(e.instancePath) && e.keyword !== 'oneOf') continue;
    if (e.keyword === 'oneOf') {
      // An error inside the value (an expectation's typo) says more than "matches no form".
      if (errors.some((x) => x.instancePath.startsWith(e.instancePath + '/'))) continue;
      out.push(map.error(path, path.at(-1) === 'expect' ? 'must be `record` or a list of expectations' : 'must be one of the allowed forms'));
    }
    else if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(((e.parentSchema as Record<string, any>)?.properties ?? {}) as object);
      out.push(map.error([...path, extra], `unknown field '${extra}'`, { key: true, hint: didYouMean(extra, allowed) }));
    } else if (e.keyword === 'required') out.push(map.error(path, `missing required field '${(e.params as { missingProperty: string }).missingProperty}'`));
    else if (e.keyword === 'maxProperties' || e.keyword === 'minProperties') out.push(map.error(path, 'an input item is one `stream: event` (or `stream: [events]`) pair'));
    else out.push(map.error(path, e.message ?? 'invalid'));
  }
  return out;
}

/** Turn the checked plain tests of one source into PipelineTests, reporting unknown names. */
function collect(pipeline: CompiledPipeline, source: TestSource, specs: unknown[], out: LoadedTests): void {
  const map = new SourceMap(source.file, source.doc, source.lines);
  const pos = (path: Path, key = false): Position => ({ file: source.file, ...map.position(path, { key }) });
  const err = (path: Path, message: string, hint?: string, key = false) => out.errors.push(map.error(path, message, { hint, key }));
  const reducers = new Map(pipeline.reducers.map((r) => [r.name, r]));

  specs.forEach((raw, i) => {
    const spec = raw as Record<string, any>;
    const at: Path = ['tests', i];
    const mode: MatchMode = spec.match ?? 'exact';
    const arrays: ArrayMode = spec.arrays ?? 'exact';

    const state: Record<string, Record<string, Json>> = {};
    for (const [reducer, keys] of Object.entries<Record<string, Json>>(spec.state ?? {})) {
      if (!reducers.has(reducer)) err([...at, 'state', reducer], `unknown reducer '${reducer}'`, didYouMean(reducer, reducers.keys()), true);
      else state[reducer] = keys;
    }

    const input = (spec.input as Array<Record<string, unknown>>).map((item, j) => {
      const [stream, events] = Object.entries(item)[0];
      if (!pipeline.streams.has(stream)) err([...at, 'input', j, stream], `unknown stream '${stream}'`, didYouMean(stream, pipeline.streams.keys()), true);
      return { stream, events: Array.isArray(events) ? events : [events], at: pos([...at, 'input', j]) };
    });

    let expect: PipelineTest['expect'];
    if (Array.isArray(spec.expect)) {
      expect = [];
      spec.expect.forEach((e: Record<string, any>, j: number) => {
        const x = expectation(pipeline, withBlanks(e, map, [...at, 'expect', j]), [...at, 'expect', j], pos([...at, 'expect', j]), { mode: e.match ?? mode, arrays: e.arrays ?? arrays }, err);
        if (x) (expect as Expectation[]).push(x);
      });
    } else expect = spec.expect;

    out.tests.push({ name: spec.name, source, path: at, at: pos(at), state, input, expect });
  });
}

type Report = (path: Path, message: string, hint?: string, key?: boolean) => void;

const VALUE_FIELDS = ['state', 'view', 'emitted', 'summary', 'rows', 'row'];

/** A value field written with nothing after it (`view:`) is one to record, not an expected null. */
function withBlanks(e: Record<string, any>, map: SourceMap, path: Path): Record<string, any> {
  const out = { ...e };
  for (const f of VALUE_FIELDS) {
    if (out[f] !== null) continue;
    const node = map.node([...path, f]);
    if (isScalar(node) && node.range && node.range[0] === node.range[1]) out[f] = undefined;
  }
  return out;
}

/** One expectation: which kind it is (by the fields it names), checked against the pipeline. */
function expectation(pipeline: CompiledPipeline, e: Record<string, any>, path: Path, at: Position, opts: Expectation['opts'], err: Report): Expectation | undefined {
  const present = (fields: string[]) => fields.filter((f) => Object.hasOwn(e, f));
  const only = (allowed: string[], kind: string): boolean => {
    const extra = Object.keys(e).filter((f) => !allowed.includes(f) && f !== 'match' && f !== 'arrays');
    for (const f of extra) err([...path, f], `'${f}' does not belong in ${kind}`, `it takes ${allowed.join(', ')}`, true);
    return extra.length === 0;
  };
  const base = { path, at, opts };

  if (e.rejected !== undefined) {
    if (!only(['rejected'], 'a `rejected` expectation')) return undefined;
    const r = e.rejected;
    if (r.stream !== undefined && !pipeline.streams.has(r.stream)) err([...path, 'rejected', 'stream'], `unknown stream '${r.stream}'`, didYouMean(r.stream, pipeline.streams.keys()));
    return { ...base, kind: 'rejected', reason: r.reason, stream: r.stream, stage: r.stage, event: r.event };
  }

  if (e.reducer !== undefined) {
    const r = pipeline.reducers.find((x) => x.name === e.reducer);
    if (!r) {
      err([...path, 'reducer'], `unknown reducer '${e.reducer}'`, didYouMean(String(e.reducer), pipeline.reducers.map((x) => x.name)));
      return undefined;
    }
    const key = e.key === undefined ? undefined : String(e.key);
    if ('emitted' in e || (key === undefined && r.emit)) {
      if (!only(['reducer', 'key', 'emitted'], 'an `emitted` expectation')) return undefined;
      if (!r.emit) {
        err([...path, 'emitted'], `reducer '${r.name}' emits nothing (it has no \`emit:\` stream)`);
        return undefined;
      }
      return { ...base, kind: 'emitted', reducer: r.name, key, field: 'emitted', value: e.emitted };
    }
    if (key === undefined) {
      err(path, `a reducer expectation names a \`key\` (or, for a reducer with \`emit\`, checks \`emitted\`)`);
      return undefined;
    }
    if (!only(['reducer', 'key', 'state', 'view', 'absent'], 'a reducer expectation')) return undefined;
    const fields = present(['state', 'view', 'absent']);
    if (fields.length > 1) {
      err([...path, fields[1]], `a reducer expectation checks one of state, view or absent (this one has ${fields.join(' and ')})`, undefined, true);
      return undefined;
    }
    const field = (fields[0] ?? 'view') as 'state' | 'view' | 'absent';
    return { ...base, kind: 'reducer', reducer: r.name, key, field, value: e[field] };
  }

  if (e.aggregation !== undefined) {
    const agg = pipeline.aggregations.get(e.aggregation);
    if (!agg) {
      err([...path, 'aggregation'], `unknown aggregation '${e.aggregation}'`, didYouMean(String(e.aggregation), pipeline.aggregations.keys()));
      return undefined;
    }
    if (!only(['aggregation', 'group', 'member', 'summary', 'rows', 'row'], 'an aggregation expectation')) return undefined;
    if (e.group === undefined) {
      err(path, 'an aggregation expectation names a `group` (e.g. a class)');
      return undefined;
    }
    const group = String(e.group);
    const groups = agg.groupBy.lookup?.roster.groups() ?? [];
    if (groups.length && !groups.includes(group)) err([...path, 'group'], `'${group}' is not a group of '${agg.name}' (roster '${agg.groupBy.lookup!.roster.name}')`, didYouMean(group, groups));
    const fields = present(['summary', 'rows', 'row']);
    if (fields.length > 1) {
      err([...path, fields[1]], `an aggregation expectation checks one of summary, rows or row (this one has ${fields.join(' and ')})`, undefined, true);
      return undefined;
    }
    const member = e.member === undefined ? undefined : String(e.member);
    const field = (fields[0] ?? (member !== undefined ? 'row' : 'summary')) as 'summary' | 'rows' | 'row';
    if ((field === 'row') !== (member !== undefined)) {
      err(path, field === 'row' ? '`row` needs the `member` whose row it is' : '`member` goes with `row`');
      return undefined;
    }
    return { ...base, kind: 'aggregation', aggregation: agg.name, group, member, field, value: e[field] };
  }

  err(path, 'an expectation names a `reducer`, an `aggregation` or `rejected`');
  return undefined;
}
