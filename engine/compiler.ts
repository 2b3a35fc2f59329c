// The compiler: YAML text -> checked spec -> operator graph (CompiledPipeline). It reports every error it
// can find at once, each at file:line:column with the document path and a hint.
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from './vendor/yaml.js';
import { fileLimits, readBoundedText } from './bounded-read.js';
import { canonicalJson } from './canonical-json.js';
import { compileAggregations, compileDashboards } from './compiler/aggregations.js';
import { checkIdentifiers, compileArchive } from './compiler/archive-spec.js';
import type { CompileCtx } from './compiler/context.js';
import { compileKeys } from './compiler/keys.js';
import { checkAggregations, compilePartitions, placeReducers } from './compiler/partitions.js';
import { compileReducers } from './compiler/reducers.js';
import { compileRosters } from './compiler/rosters.js';
import { pipelineSchemaValidator } from './compiler/shipped-schemas.js';
import { didYouMean, formatError, SourceMap, type Path } from './compiler/source-map.js';
import { checkReservedNames, compileSources } from './compiler/sources.js';
import { compileRetention } from './retention/policy.js';
import type { CompiledPipeline, PipelineError, Roster } from './types.js';

export { formatError } from './compiler/source-map.js';
export { canonicalJson } from './canonical-json.js';

export interface CompileResult {
  pipeline?: CompiledPipeline;
  errors: PipelineError[];
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export async function compilePipelineFile(file: string): Promise<CompileResult> {
  const abs = resolve(file);
  let text: string;
  try {
    text = readBoundedText(abs, fileLimits.source());
  } catch (err) {
    return { errors: [{ file, line: 1, column: 1, path: '', message: `cannot read pipeline file: ${(err as Error).message}` }] };
  }
  const result = await compilePipeline(text, abs);
  // Errors name the file as the user wrote it (editors and terminals resolve it from there).
  for (const e of result.errors) e.file = file;
  return result;
}

export async function compilePipeline(text: string, file = '', baseDir = file ? dirname(file) : process.cwd()): Promise<CompileResult> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const map = new SourceMap(file, doc, lines);
  const errors: PipelineError[] = [];
  for (const e of [...doc.errors]) {
    const pos = lines.linePos(e.pos[0]);
    const message = e.code === 'DUPLICATE_KEY' ? 'duplicate name: this key is already defined in the same mapping' : `YAML: ${e.message.split(' at line')[0]}`;
    errors.push({ file, line: pos.line, column: pos.col, path: '', message });
  }
  if (errors.length) return { errors };
  const spec = doc.toJS() as Record<string, any>;
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) {
    return { errors: [map.error([], 'a pipeline file is a YAML mapping with at least `pipeline`, `sources` and `reducers`')] };
  }

  // 1. Shape: the JSON Schema (the same one editors use).
  const validate = pipelineSchemaValidator();
  if (!validate(spec)) {
    for (const e of validate.errors ?? []) {
      if (['oneOf', 'anyOf', 'if'].includes(e.keyword)) continue;
      const path: Path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      if (e.keyword === 'additionalProperties') {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        const allowed = Object.keys(((e.parentSchema as Record<string, any>)?.properties ?? {}) as object);
        errors.push(map.error([...path, extra], `unknown field '${extra}'`, { key: true, hint: didYouMean(extra, allowed) }));
      } else if (e.keyword === 'required') {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        errors.push(map.error(path, `missing required field '${missing}'`));
      } else if (e.keyword === 'propertyNames') {
        errors.push(map.error([...path, (e.params as { propertyName: string }).propertyName], `bad name: use letters, digits, _ and -, starting with a letter`, { key: true }));
      } else if (e.keyword === 'pattern' && path.length >= 2 && path.at(-1) !== undefined) {
        errors.push(map.error(path, `${path.at(-2) === 'keys' || String(path.at(-1)).includes('time') ? 'bad JSON path' : 'bad value'}: ${e.message}`));
      } else {
        errors.push(map.error(path, `${e.message}${e.keyword === 'enum' ? `: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` : ''}`));
      }
    }
    dedupe(errors);
    // Unknown fields alone (a typo like `dashboards2`): leave them out and check the rest too, so one typo
    // does not hide every other error. Any other shape error stops here: the checks below rely on it.
    const unknown = (validate.errors ?? []).filter((e) => e.keyword === 'additionalProperties');
    if (!unknown.length || !(validate.errors ?? []).every((e) => ['additionalProperties', 'oneOf', 'anyOf', 'if'].includes(e.keyword))) return { errors };
    const pruned = withoutFields(spec, unknown.map((e) => [...e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')), (e.params as { additionalProperty: string }).additionalProperty]));
    if (!validate(pruned)) return { errors };
    await compileSpec(pruned, map, baseDir, errors, text, file);
    dedupe(errors);
    errors.sort((a, b) => a.line - b.line || a.column - b.column);
    return { errors };
  }

  const pipeline = await compileSpec(spec, map, baseDir, errors, text, file);
  dedupe(errors);
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return errors.length ? { errors } : { pipeline, errors };
}

/** A deep copy of the spec without the fields at these paths. */
function withoutFields(spec: Record<string, any>, paths: string[][]): Record<string, any> {
  const copy = structuredClone(spec);
  for (const path of paths) {
    let node: any = copy;
    for (const seg of path.slice(0, -1)) node = node?.[seg];
    if (node && typeof node === 'object') delete node[path.at(-1)!];
  }
  return copy;
}

function dedupe(errors: PipelineError[]): void {
  const seen = new Set<string>();
  for (let i = errors.length - 1; i >= 0; i--) {
    const k = formatError(errors[i]);
    if (seen.has(k)) errors.splice(i, 1);
    else seen.add(k);
  }
}

/**
 * The sections in dependency order, all checked even after an error (every error at once). Each section is
 * one module under compiler/; they share the CompileCtx.
 */
async function compileSpec(spec: Record<string, any>, map: SourceMap, baseDir: string, errors: PipelineError[], text: string, file: string): Promise<CompiledPipeline | undefined> {
  const ctx: CompileCtx = {
    spec,
    baseDir,
    err: (path, message, opts = {}) => void errors.push(map.error(path, message, opts)),
    keys: new Map(),
    timeFields: new Map(),
    timeFns: new Map(),
  };
  checkReservedNames(ctx);
  const sources = compileSources(ctx);
  const rosterSet = compileRosters(ctx);
  compileKeys(ctx, rosterSet);
  const report = (path: Path, message: string) => ctx.err(path, message);
  const partitions = compilePartitions(spec, ctx.keys, report);
  const reducers = await compileReducers(ctx, sources);
  placeReducers(partitions, ctx.keys, reducers);
  const aggregations = compileAggregations(ctx, reducers);
  checkAggregations(partitions, ctx.keys, aggregations, report);
  const dashboards = compileDashboards(ctx, aggregations);
  const archive = compileArchive(ctx, reducers);
  checkIdentifiers(ctx);
  const retention = compileRetention(spec.retention, report);
  if (errors.length) return undefined;
  const streams = new Map<string, { name: string; producer: string | null; consumers: string[] }>();
  for (const s of sources.keys()) streams.set(s, { name: s, producer: null, consumers: [] });
  for (const r of reducers) {
    for (const s of [r.emit, r.late]) if (s && !streams.has(s)) streams.set(s, { name: s, producer: r.name, consumers: [] });
  }
  for (const r of reducers) for (const s of r.from) streams.get(s)?.consumers.push(r.name);
  const rosters = new Map<string, Roster>();
  for (const k of ctx.keys.values()) if (k.key.lookup) rosters.set(k.key.lookup.roster.name, k.key.lookup.roster);
  return {
    name: spec.pipeline,
    file,
    text,
    spec,
    hash: sha256(canonicalJson(spec)),
    sources,
    keys: new Map([...ctx.keys].map(([n, k]) => [n, k.key])),
    rosters,
    ...(rosterSet.identities ? { identities: rosterSet.identities } : {}),
    streams,
    reducers,
    aggregations,
    dashboards,
    archive,
    partitions,
    ...(retention ? { retention } : {}),
  };
}
