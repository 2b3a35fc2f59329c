// The compiler: YAML text -> checked spec -> operator graph (CompiledPipeline). It reports every error it
// can find at once, each at file:line:column with the document path and a hint.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from './vendor/yaml.js';
import type { ErrorObject } from 'ajv';
import { builtinAggregators, builtinOperators, isCustomOperatorSpec, loadCustomOperator } from '../operators/registry.js';
import { didYouMean, formatError, SourceMap, type Path } from './compiler/source-map.js';
import { pipelineSchemaValidator, shippedValidator } from './compiler/shipped-schemas.js';
import { viewFieldProblem } from './compiler/view-fields.js';
import { checkAggregations, compilePartitions, placeReducers } from './compiler/partitions.js';
import { parseDuration } from './duration.js';
import { ajv, describeErrors, eventValidator } from './event-schemas.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_DEPTH, DEFAULT_MAX_NODES, DEFAULT_MIN_EVENT_TIME, describeStructure, structureProblem, timeProblem } from './event-limits.js';
import { compileExpression, compileFilter } from './expression.js';
import { compilePath, copierOf, JsonPathError, parsePath } from './jsonpath.js';
import { packageRoot } from './paths.js';
import { canonicalJson } from './canonical-json.js';
import { fileLimits, readBoundedText } from './bounded-read.js';
import { loadRoster, type CsvRoster } from './roster.js';
import { loadRosterFromSource } from './roster/sources.js';
import { rosterIdentities, type IdentityResolver } from './roster-identities.js';
import { normalizePath } from '../archive/learners.js';
import { compileRetention } from './retention/policy.js';
import { definitionVersion, stateVersions } from './state-version.js';
import type {
  CompiledAggregation,
  CompiledKey,
  CompiledPipeline,
  CompiledReducer,
  CompiledSource,
  CompiledSummary,
  DashboardSpec,
  JsonSchema,
  LoEvent,
  Operator,
  PipelineError,
  Roster,
} from './types.js';

/** The default event time (`ts`): one function for all reducers, so the runtime computes it once per route. */
const eventTs = (e: LoEvent): number | undefined => (typeof e.ts === 'number' ? e.ts : undefined);

export { formatError } from './compiler/source-map.js';
export { canonicalJson } from './canonical-json.js';

export interface CompileResult {
  pipeline?: CompiledPipeline;
  errors: PipelineError[];
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Whether a section of the spec (`keys:`, `aggregations:`) defines a name. Own names only: `in` and
 * `obj[name]` also find Object.prototype's members, so `aggregation: toString` passed as defined and the
 * dashboard silently vanished.
 */
function hasName(section: unknown, name: unknown): boolean {
  return typeof name === 'string' && section != null && typeof section === 'object' && Object.hasOwn(section, name);
}

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
    await new Compiler(pruned, map, baseDir, errors).compile(text, file);
    dedupe(errors);
    errors.sort((a, b) => a.line - b.line || a.column - b.column);
    return { errors };
  }

  const c = new Compiler(spec, map, baseDir, errors);
  const pipeline = await c.compile(text, file);
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

/**
 * ajv reports every branch of an anyOf (a duration is a number OR a pattern string): keep one error per
 * value, described by the schema's own description when it has one.
 */
function oneErrorPerPath(errors: ErrorObject[]): ErrorObject[] {
  const anyOf = new Map<string, ErrorObject>();
  for (const e of errors) if (e.keyword === 'anyOf' || e.keyword === 'oneOf') anyOf.set(e.instancePath, e);
  const out: ErrorObject[] = [];
  for (const e of errors) {
    const group = anyOf.get(e.instancePath);
    if (!group) out.push(e);
    else if (e === group) {
      const schema = e.parentSchema as { description?: string; anyOf?: unknown } | undefined;
      const duration = JSON.stringify(schema?.anyOf ?? '').includes('(ms|s|m|h|d)');
      const message = duration ? 'must be a duration: 500ms, 2s, 5m, 1h30m, or a number of milliseconds' : schema?.description ? `must be ${schema.description}` : e.message;
      out.push({ ...e, message });
    }
  }
  return out;
}

function dedupe(errors: PipelineError[]): void {
  const seen = new Set<string>();
  for (let i = errors.length - 1; i >= 0; i--) {
    const k = formatError(errors[i]);
    if (seen.has(k)) errors.splice(i, 1);
    else seen.add(k);
  }
}

interface KeyInfo {
  key: CompiledKey;
  /** The definition as written, expanded (paths of components), for versions. */
  definition: unknown;
  /** JSON paths the key reads from an event. */
  paths: string[];
}

class Compiler {
  private readonly rosterFiles = new Map<string, CsvRoster>();
  /** Rosters with `aliases:`, in declaration order, and the resolver built from them. */
  private readonly identityRosters: Array<{ roster: CsvRoster; aliases: string[] }> = [];
  private identities: IdentityResolver | undefined;
  /** Per source, the event-time fields ingest checks: `ts`, and the `time:` paths of reducers reading it. */
  private readonly timeFields = new Map<string, Array<{ field: string; get: (e: LoEvent) => unknown }>>();
  /** Per `time:` path, the one event-time function of the reducers that name it (see reducers()). */
  private readonly timeFns = new Map<string, (e: LoEvent) => number | undefined>();
  private readonly keys = new Map<string, KeyInfo>();

  constructor(
    private readonly spec: Record<string, any>,
    private readonly map: SourceMap,
    private readonly baseDir: string,
    private readonly errors: PipelineError[],
  ) {}

  private err(path: Path, message: string, opts: { key?: boolean; inner?: number; hint?: string } = {}): void {
    this.errors.push(this.map.error(path, message, opts));
  }

  async compile(text: string, file: string): Promise<CompiledPipeline | undefined> {
    this.reservedNames();
    const sources = this.sources();
    this.rosters();
    this.compileKeys();
    const report = (path: Path, message: string) => this.err(path, message);
    const partitions = compilePartitions(this.spec, this.keys, report);
    const reducers = await this.reducers(sources);
    placeReducers(partitions, this.keys, reducers, report);
    const aggregations = this.aggregations(reducers);
    checkAggregations(partitions, this.keys, aggregations, report);
    const dashboards = this.dashboards(aggregations);
    const archive = this.archive(reducers);
    this.identifiers();
    const retention = compileRetention(this.spec.retention, report);
    if (this.errors.length) return undefined;
    const streams = new Map<string, { name: string; producer: string | null; consumers: string[] }>();
    for (const s of sources.keys()) streams.set(s, { name: s, producer: null, consumers: [] });
    for (const r of reducers) {
      for (const s of [r.emit, r.late]) if (s && !streams.has(s)) streams.set(s, { name: s, producer: r.name, consumers: [] });
    }
    for (const r of reducers) for (const s of r.from) streams.get(s)?.consumers.push(r.name);
    const rosters = new Map<string, Roster>();
    for (const k of this.keys.values()) if (k.key.lookup) rosters.set(k.key.lookup.roster.name, k.key.lookup.roster);
    return {
      name: this.spec.pipeline,
      file,
      text,
      spec: this.spec,
      hash: sha256(canonicalJson(this.spec)),
      sources,
      keys: new Map([...this.keys].map(([n, k]) => [n, k.key])),
      rosters,
      ...(this.identities ? { identities: this.identities } : {}),
      streams,
      reducers,
      aggregations,
      dashboards,
      archive,
      partitions,
      ...(retention ? { retention } : {}),
    };
  }

  /**
   * `__proto__` cannot be a name: assigning it to a plain object (a result row, a JSON output) sets the
   * prototype instead, so whatever it names would silently vanish. Other Object member names (`toString`,
   * `constructor`) are ordinary names: lookups here use Maps and own properties.
   */
  private reservedNames(): void {
    const reserved = '__proto__';
    const bad = (path: Path, key: boolean) => this.err(path, `reserved name '${reserved}': it has a special meaning in JavaScript; choose another name`, { key });
    for (const section of ['sources', 'rosters', 'keys', 'reducers', 'aggregations', 'dashboards']) {
      if (hasName(this.spec[section], reserved)) bad([section, reserved], true);
    }
    for (const [name, def] of Object.entries<Record<string, any>>(this.spec.reducers ?? {})) {
      for (const field of ['emit', 'late']) if (def?.[field] === reserved) bad(['reducers', name, field], false);
    }
    for (const [name, def] of Object.entries<Record<string, any>>(this.spec.aggregations ?? {})) {
      if (def?.columns && !Array.isArray(def.columns) && hasName(def.columns, reserved)) bad(['aggregations', name, 'columns', reserved], true);
      if (Array.isArray(def?.columns)) def.columns.forEach((c: unknown, i: number) => typeof c === 'string' && c.split('.')[0] === reserved && bad(['aggregations', name, 'columns', i], false));
      if (hasName(def?.summary, reserved)) bad(['aggregations', name, 'summary', reserved], true);
    }
  }

  private sources(): Map<string, CompiledSource> {
    const out = new Map<string, CompiledSource>();
    for (const [name, def] of Object.entries<Record<string, any>>(this.spec.sources ?? {})) {
      const schema: string = def.schema ?? 'lo-event';
      let validate: (e: unknown) => string | null;
      try {
        validate = eventValidator(schema, this.baseDir);
      } catch (err) {
        this.err(['sources', name, 'schema'], `cannot load event schema '${schema}': ${(err as Error).message.split('\n')[0]}`);
        // The source still exists (reducers reading it are not "unknown stream" errors too); no pipeline is
        // built from a file with errors, so this validator never sees an event.
        validate = () => `event schema '${schema}' did not load`;
      }
      const { kind, path, schema: _s, max_depth, max_nodes, max_clock_skew, min_event_time, ...options } = def;
      const maxDepth: number = max_depth ?? DEFAULT_MAX_DEPTH;
      const maxNodes: number = max_nodes ?? DEFAULT_MAX_NODES;
      let maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS;
      if (max_clock_skew !== undefined) {
        try {
          maxClockSkewMs = parseDuration(max_clock_skew);
        } catch (err) {
          this.err(['sources', name, 'max_clock_skew'], (err as Error).message);
        }
      }
      let minEventTime = DEFAULT_MIN_EVENT_TIME;
      if (min_event_time !== undefined) {
        minEventTime = typeof min_event_time === 'number' ? min_event_time : Date.parse(String(min_event_time));
        if (!Number.isFinite(minEventTime)) this.err(['sources', name, 'min_event_time'], `'${String(min_event_time)}' is not a time: write a date (2000-01-01) or ms since the epoch`);
      }
      // The bounds come before the schema: a schema may recurse into the event (ajv's validators do), and a
      // bounded event cannot overflow it.
      const checked = (e: unknown) => {
        const problem = structureProblem(e, maxDepth, maxNodes);
        return problem ? describeStructure(problem, maxDepth, maxNodes) : validate(e);
      };
      const timeFields = this.timeFields.get(name) ?? [];
      // `ts` as reducers read it by default (numbers only; another type leaves the arrival time in force).
      timeFields.push({ field: 'ts', get: eventTs });
      this.timeFields.set(name, timeFields);
      const skew = String(max_clock_skew ?? '5m');
      const checkTime = (e: LoEvent, latest: number): string | null => {
        const max = latest + maxClockSkewMs;
        for (let i = 0; i < timeFields.length; i++) {
          const v = timeFields[i].get(e);
          // The common cases inline (this runs per event): no time, or a number in bounds.
          if (v === undefined || (typeof v === 'number' && v >= minEventTime && v <= max)) continue;
          const problem = timeProblem(v, timeFields[i].field, minEventTime, max, skew);
          if (problem) return problem;
        }
        return null;
      };
      out.set(name, { name, kind, path, schema, validate: checked, checkTime, maxClockSkewMs, options });
    }
    return out;
  }

  private rosters(): void {
    for (const [name, def] of Object.entries<Record<string, any>>(this.spec.rosters ?? {})) {
      if (def.source !== undefined && def.source !== 'csv') {
        // OneRoster, Google Classroom...: engine/roster/sources.ts (errors name file and line).
        try {
          const roster = loadRosterFromSource(name, def, this.baseDir);
          this.rosterFiles.set(name, roster);
          // OneRoster and Classroom rows carry email and google_id: aliases map identities to them too.
          if (Array.isArray(def.aliases)) this.aliases(name, roster, def.aliases);
        } catch (err) {
          this.err(['rosters', name], (err as Error).message);
        }
        continue;
      }
      const file = resolve(this.baseDir, def.file);
      if (!existsSync(file)) {
        this.err(['rosters', name, 'file'], `roster file not found: ${file}`);
        continue;
      }
      try {
        const roster = loadRoster(name, file, def.member);
        this.rosterFiles.set(name, roster);
        if (Array.isArray(def.aliases)) this.aliases(name, roster, def.aliases);
      } catch (err) {
        this.err(['rosters', name], (err as Error).message);
      }
    }
    const { resolver, problems } = rosterIdentities(this.identityRosters);
    for (const p of problems) this.err(['rosters'], p);
    this.identities = resolver;
  }

  /** A roster's identity alias columns must exist (a typo would silently leave students split in two). */
  private aliases(name: string, roster: CsvRoster, columns: unknown[]): void {
    const ok: string[] = [];
    columns.forEach((c, i) => {
      if (typeof c !== 'string') return; // the schema says why
      if (!roster.hasColumn(c)) this.err(['rosters', name, 'aliases', i], `roster '${name}' has no column '${c}'`, { hint: didYouMean(c, roster.header) });
      else ok.push(c);
    });
    if (ok.length) this.identityRosters.push({ roster, aliases: ok });
  }

  private compileKeys(): void {
    const defs = (this.spec.keys ?? {}) as Record<string, any>;
    // A key that looks members up in a roster with `aliases:` names the member whichever identity an event
    // carries (gc-<Google id>, an email, ls-<tag>): one student, one key, from every source (HTTP batches and
    // replays as well as the WebSocket, which resolves at sign-on).
    const aliased = new Set(this.identityRosters.map((r) => r.roster.name));
    const resolver = this.identities;
    const resolvedKeys = new Set(
      Object.values(defs)
        .filter((d: any) => d && typeof d === 'object' && !Array.isArray(d) && aliased.has(d.lookup) && typeof d.by === 'string')
        .map((d: any) => d.by as string),
    );
    const pathKey = (name: string, path: string, at: Path): KeyInfo | undefined => {
      try {
        const get = compilePath(path);
        const raw = (e: LoEvent) => {
          const v = get(e);
          return v === undefined || v === null || typeof v === 'object' ? undefined : String(v);
        };
        const extract =
          resolver && resolvedKeys.has(name)
            ? (e: LoEvent) => {
                const v = raw(e);
                return v === undefined ? undefined : (resolver.resolve(v) ?? v);
              }
            : raw;
        return {
          key: {
            name,
            components: [name],
            extract,
          },
          definition: path,
          paths: [path],
        };
      } catch (err) {
        if (err instanceof JsonPathError) this.err(at, `bad JSON path: ${err.message}`, { inner: err.offset });
        else throw err;
        return undefined;
      }
    };
    // Paths first, then composites and lookups, which refer to other keys.
    for (const [name, def] of Object.entries(defs)) {
      if (typeof def === 'string') {
        const k = pathKey(name, def, ['keys', name]);
        if (k) this.keys.set(name, k);
      }
    }
    for (const [name, def] of Object.entries(defs)) {
      if (Array.isArray(def)) {
        const parts: KeyInfo[] = [];
        def.forEach((component: string, i: number) => {
          const k = this.keys.get(component);
          if (!k) this.err(['keys', name, i], `unknown key '${component}' in composite key '${name}'`, { hint: didYouMean(component, Object.keys(defs)) });
          else if (k.key.components.length > 1 || k.key.lookup) this.err(['keys', name, i], `a composite key's parts must be JSON path keys ('${component}' is not)`);
          else parts.push(k);
        });
        if (parts.length !== def.length) continue;
        const getters = parts.map((p) => p.key.extract);
        this.keys.set(name, {
          key: {
            name,
            components: def,
            extract: (e) => {
              let out = '';
              for (let i = 0; i < getters.length; i++) {
                const v = getters[i](e);
                if (v === undefined) return undefined;
                out = i === 0 ? v : out + '|' + v;
              }
              return out;
            },
          },
          definition: parts.map((p) => p.definition),
          paths: parts.flatMap((p) => p.paths),
        });
      }
    }
    this.lookupKeys(defs);
    for (const info of this.keys.values()) {
      const copiers = info.paths.map(copierOf);
      info.key.paths = info.paths;
      info.key.copy = (from, to) => {
        for (const c of copiers) c(from, to);
      };
    }
  }

  private lookupKeys(defs: Record<string, any>): void {
    for (const [name, def] of Object.entries(defs)) {
      if (def && typeof def === 'object' && !Array.isArray(def)) {
        const roster = this.rosterFiles.get(def.lookup);
        const by = this.keys.get(def.by);
        if (!roster) {
          if (!hasName(this.spec.rosters, def.lookup)) this.err(['keys', name, 'lookup'], `unknown roster '${def.lookup}'`, { hint: didYouMean(def.lookup, Object.keys(this.spec.rosters ?? {})) });
          continue;
        }
        if (!by) {
          this.err(['keys', name, 'by'], `unknown key '${def.by}'`, { hint: didYouMean(def.by, Object.keys(defs)) });
          continue;
        }
        if (!roster.hasColumn(def.column)) {
          this.err(['keys', name, 'column'], `roster '${def.lookup}' has no column '${def.column}'`, { hint: didYouMean(def.column, roster.header) });
          continue;
        }
        const grouped = roster.groupedBy(def.column);
        const byExtract = by.key.extract;
        this.keys.set(name, {
          key: {
            name,
            components: [name],
            extract: (e) => {
              const m = byExtract(e);
              return m === undefined ? undefined : grouped.groupOf(m);
            },
            lookup: { roster: grouped, by: def.by, column: def.column },
          },
          definition: { lookup: def.lookup, by: by.definition, column: def.column },
          paths: by.paths,
        });
      }
    }
  }

  private async resolveOperator(spec: string, at: Path): Promise<Operator | undefined> {
    if (isCustomOperatorSpec(spec)) {
      try {
        return await loadCustomOperator(spec, this.baseDir);
      } catch (err) {
        this.err(at, (err as Error).message);
        return undefined;
      }
    }
    const op = builtinOperators.get(spec);
    if (!op) this.err(at, `unknown operator '${spec}'`, { hint: didYouMean(spec, builtinOperators.keys()) });
    return op;
  }

  private async reducers(sources: Map<string, CompiledSource>): Promise<CompiledReducer[]> {
    const defs = (this.spec.reducers ?? {}) as Record<string, Record<string, any>>;
    // Streams: sources, and what reducers emit.
    const producers = new Map<string, string[]>();
    for (const [name, def] of Object.entries(defs)) {
      if (sources.has(name)) this.err(['reducers', name], `duplicate name: '${name}' is both a source and a reducer`, { key: true });
      for (const field of ['emit', 'late'] as const) {
        const s = def[field];
        if (!s) continue;
        if (sources.has(s)) this.err(['reducers', name, field], `duplicate name: stream '${s}' is already a source`);
        producers.set(s, [...(producers.get(s) ?? []), name]);
      }
    }
    const streamNames = [...sources.keys(), ...producers.keys()];
    const built: Array<CompiledReducer & { order: number }> = [];
    let order = 0;
    // Equal `where` texts compile to one function: the runtime routes a batch once for reducers that share
    // streams, key and filter (compared by identity).
    const filters = new Map<string, (e: LoEvent) => boolean>();
    for (const [name, def] of Object.entries(defs)) {
      const at: Path = ['reducers', name];
      const from: string[] = Array.isArray(def.from) ? def.from : [def.from];
      from.forEach((s, i) => {
        if (!sources.has(s) && !producers.has(s)) {
          this.err(Array.isArray(def.from) ? [...at, 'from', i] : [...at, 'from'], `unknown stream '${s}'`, { hint: didYouMean(s, streamNames) });
        }
      });
      const key = this.keys.get(def.key);
      if (!key && !hasName(this.spec.keys, def.key)) this.err([...at, 'key'], `unknown key '${def.key}'`, { hint: didYouMean(def.key, Object.keys(this.spec.keys ?? {})) });
      const op = await this.resolveOperator(def.op, [...at, 'op']);
      let params: unknown = def.params ?? {};
      if (op) {
        // Built-in params schemas are ours (checked in a test); a custom operator's is checked against the meta-schema.
        const validate = isCustomOperatorSpec(def.op) ? ajv().compile(op.params as JsonSchema) : shippedValidator(`op_${op.name}`, op.params);
        if (!validate(params)) {
          for (const e of oneErrorPerPath(validate.errors ?? [])) {
            const sub = e.instancePath.split('/').slice(1);
            if (e.keyword === 'additionalProperties') {
              const extra = (e.params as { additionalProperty: string }).additionalProperty;
              this.err([...at, 'params', ...sub, extra], `operator '${op.name}' has no parameter '${extra}'`, {
                key: true,
                hint: didYouMean(extra, Object.keys(((op.params as any).properties ?? {}) as object)),
              });
            } else {
              this.err([...at, 'params', ...sub], `bad params for '${op.name}': ${describeErrors([e]).replace('(event)', 'params')}`);
            }
          }
          params = undefined;
        } else if (op.prepare) {
          try {
            params = op.prepare(params);
          } catch (err) {
            const pe = err as Error & { param?: string };
            this.err(pe.param ? [...at, 'params', pe.param] : [...at, 'params'], `bad params for '${op.name}': ${pe.message}`);
            params = undefined;
          }
        }
      }
      let where: ((e: LoEvent) => boolean) | undefined;
      if (def.where !== undefined) {
        where = typeof def.where === 'string' ? filters.get(def.where) : undefined;
        if (!where) {
          const f = compileFilter(def.where);
          if (f.ok) filters.set(def.where, (where = f.fn));
          else this.err([...at, 'where'], f.message, { inner: f.offset });
        }
      }
      let mapFn: ((e: LoEvent) => LoEvent) | undefined;
      if (def.map) {
        const fields: Array<[string, (e: LoEvent) => unknown]> = [];
        for (const [field, src] of Object.entries<string>(def.map)) {
          const x = compileExpression(src);
          if (x.ok) fields.push([field, x.fn]);
          else this.err([...at, 'map', field], x.message, { inner: x.offset });
        }
        mapFn = (e) => {
          const out: LoEvent = {};
          for (const [f, fn] of fields) {
            try {
              out[f] = fn(e);
            } catch {
              // A field the event lacks stays absent in the projection.
            }
          }
          return out;
        };
      }
      if (def.select) {
        const getters: Array<[Array<string | number>, (e: unknown) => unknown]> = [];
        (def.select as string[]).forEach((p, i) => {
          try {
            getters.push([parsePath(p), compilePath(p)]);
          } catch (err) {
            if (err instanceof JsonPathError) this.err([...at, 'select', i], `bad JSON path: ${err.message}`, { inner: err.offset });
          }
        });
        const before = mapFn;
        mapFn = (e) => {
          const src = before ? before(e) : e;
          const out: LoEvent = {};
          for (const [segs, get] of getters) {
            const v = get(src);
            if (v === undefined) continue;
            let o: any = out;
            for (let i = 0; i < segs.length - 1; i++) o = o[segs[i]] ??= {};
            o[segs[segs.length - 1]] = v;
          }
          return out;
        };
      }
      let time: (e: LoEvent) => number | undefined = eventTs;
      if (def.time) {
        try {
          const get = compilePath(def.time);
          // Ingest checks this path too (see sources()); after a map or select it reads a projection, which
          // only the clock's own bound (runtime/levels.ts) covers.
          if (!def.map && !def.select) {
            for (const s of from) {
              const fields = this.timeFields.get(s);
              if (fields && !fields.some((f) => f.field === def.time)) fields.push({ field: def.time, get: get as (e: LoEvent) => unknown });
            }
          }
          // Reducers with the same `time:` path share one function: the runtime computes each route's times
          // once per function (routing.ts timesOf), so reducers sharing a route then parse an ISO time once.
          let shared = this.timeFns.get(def.time);
          if (!shared) {
            shared = (e) => {
              const v = get(e);
              return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Date.parse(v) : undefined;
            };
            this.timeFns.set(def.time, shared);
          }
          time = shared;
        } catch (err) {
          if (err instanceof JsonPathError) this.err([...at, 'time'], `bad JSON path: ${err.message}`, { inner: err.offset });
        }
      }
      if (!op || !key || params === undefined) continue;
      // The own definition for now; the version proper (with the upstream) is set once the graph is known.
      const version = definitionVersion(def, from, key.definition);
      built.push({ name, op, params, from, key: key.key, where, map: mapFn, time, emit: def.emit, late: def.late, version, level: 0, order: order++ });
    }

    // The graph: reducer -> reducers that read what it emits. Cycles are errors naming their nodes.
    const byName = new Map(built.map((r) => [r.name, r]));
    const next = (r: CompiledReducer) =>
      built.filter((x) => x.from.some((s) => (r.emit && s === r.emit) || (r.late && s === r.late)));
    const state = new Map<string, 0 | 1 | 2>();
    const stack: string[] = [];
    const cycles = new Set<string>();
    const visit = (r: CompiledReducer) => {
      state.set(r.name, 1);
      stack.push(r.name);
      for (const n of next(r)) {
        if (state.get(n.name) === 1) {
          const cycle = [...stack.slice(stack.indexOf(n.name)), n.name];
          const id = [...cycle].slice(0, -1).sort().join(',');
          if (!cycles.has(id)) {
            cycles.add(id);
            this.err(['reducers', n.name, 'from'], `cycle: ${cycle.join(' -> ')} (a pipeline must be a DAG: a reducer cannot read, directly or through others, what it emits)`);
          }
        } else if (!state.get(n.name)) visit(n);
      }
      stack.pop();
      state.set(r.name, 2);
    };
    for (const r of built) if (!state.get(r.name)) visit(r);
    if (cycles.size) return [];

    // Levels: 1 + the highest level among the producers of what a reducer reads.
    const level = (r: CompiledReducer, seen = new Set<string>()): number => {
      let l = 0;
      for (const s of r.from) for (const p of producers.get(s) ?? []) {
        const pr = byName.get(p);
        if (pr && !seen.has(p)) l = Math.max(l, 1 + level(pr, new Set([...seen, r.name])));
      }
      return l;
    };
    for (const r of built) r.level = level(r);

    // A reader's version covers the versions of the reducers whose streams it reads (see state-version.ts).
    const versions = stateVersions(built.map((r) => ({ name: r.name, definition: r.version, from: r.from, emit: r.emit, late: r.late })));
    for (const r of built) r.version = versions.get(r.name)!;

    this.checkStreamTypes(built, producers, defs);
    built.sort((a, b) => a.level - b.level || a.order - b.order);
    return built.map(({ order: _o, ...r }) => r);
  }

  /** A consumer of an emitted stream must read only fields the producer's operator declares it emits. */
  private checkStreamTypes(built: CompiledReducer[], producers: Map<string, string[]>, defs: Record<string, Record<string, any>>): void {
    const byName = new Map(built.map((r) => [r.name, r]));
    for (const r of built) {
      for (const s of r.from) {
        for (const p of producers.get(s) ?? []) {
          const producer = byName.get(p);
          const emits = producer?.op.emits as { properties?: Record<string, unknown> } | undefined;
          if (!producer || producer.emit !== s || !emits?.properties) continue;
          const fields = Object.keys(emits.properties);
          // Derived events also carry the producer's key fields (the runtime copies them).
          const inherited = new Set(producer.key.paths ?? []);
          const keyDef = this.keys.get(defs[r.name].key);
          const read: Array<{ path: string; at: Path }> = [];
          for (const path of keyDef?.paths ?? []) read.push({ path, at: ['reducers', r.name, 'key'] });
          for (const [k, v] of Object.entries<unknown>(defs[r.name].params ?? {})) {
            if (typeof v === 'string' && v.startsWith('$.')) read.push({ path: v, at: ['reducers', r.name, 'params', k] });
          }
          for (const { path, at } of read) {
            if (inherited.has(path)) continue;
            const first = parsePath(path)[0];
            if (typeof first === 'string' && !fields.includes(first)) {
              this.err(at, `reducer '${r.name}' reads ${path} from stream '${s}', but '${p}' (${producer.op.name}) emits only {${fields.join(', ')}}`, {
                hint: didYouMean(first, fields),
              });
            }
          }
        }
      }
    }
  }

  private aggregations(reducers: CompiledReducer[]): Map<string, CompiledAggregation> {
    const out = new Map<string, CompiledAggregation>();
    const byName = new Map(reducers.map((r) => [r.name, r]));
    const reducerNames = Object.keys(this.spec.reducers ?? {});
    for (const [name, def] of Object.entries<Record<string, any>>(this.spec.aggregations ?? {})) {
      const at: Path = ['aggregations', name];
      const group = this.keys.get(def.group_by);
      if (!group) {
        this.err([...at, 'group_by'], `unknown key '${def.group_by}'`, { hint: didYouMean(def.group_by, this.keys.keys()) });
        continue;
      }
      if (!group.key.lookup) {
        this.err([...at, 'group_by'], `group_by needs a roster lookup key (like class: {lookup: roster, by: student, column: class}); '${def.group_by}' is not one`);
        continue;
      }
      const member = group.key.lookup.by;
      const entries: Array<[string, string, Path]> = Array.isArray(def.columns)
        ? def.columns.map((c: string, i: number) => [c, c, [...at, 'columns', i]])
        : Object.entries<string>(def.columns).map(([alias, c]) => [alias, c, [...at, 'columns', alias]]);
      const columns: CompiledAggregation['columns'] = [];
      for (const [alias, ref, cat] of entries) {
        const [reducer, ...field] = ref.split('.');
        const r = byName.get(reducer);
        if (!r) {
          if (!reducerNames.includes(reducer)) this.err(cat, `unknown reducer '${reducer}'`, { hint: didYouMean(reducer, reducerNames) });
          continue;
        }
        const keyedOk = r.key.name === member || r.key.name === group.key.name || (r.key.components.length > 1 && r.key.components.includes(member));
        if (!keyedOk) {
          this.err(cat, `reducer '${reducer}' is keyed by '${r.key.name}': it cannot be shown per ${member} (key it by ${member}, by ${group.key.name}, or by a composite key with ${member})`);
          continue;
        }
        const problem = viewFieldProblem(r.op.viewSchema, field);
        if (problem) {
          this.err(cat, `column '${alias}': ${problem.message.replace('the view', `the view of '${reducer}' (${r.op.name})`)}`, { hint: problem.hint });
          continue;
        }
        columns.push({ name: alias, reducer, field });
      }
      const summary: CompiledSummary[] = [];
      for (const [sname, sdef] of Object.entries<Record<string, any>>(def.summary ?? {})) {
        const sat: Path = [...at, 'summary', sname];
        const aggregator = builtinAggregators.get(sdef.op);
        if (!aggregator) {
          this.err([...sat, 'op'], `unknown aggregator '${sdef.op}'`, { hint: didYouMean(sdef.op, builtinAggregators.keys()) });
          continue;
        }
        if (sdef.of !== undefined && !entries.some(([alias]) => alias === sdef.of)) {
          this.err([...sat, 'of'], `unknown column '${sdef.of}'`, { hint: didYouMean(sdef.of, entries.map(([a]) => a)) });
          continue;
        }
        const params = sdef.params ?? {};
        const validate = shippedValidator(`agg_${aggregator.name}`, aggregator.params);
        if (!validate(params)) {
          this.err([...sat, 'params'], `bad params for '${aggregator.name}': ${describeErrors(validate.errors).replace('(event)', 'params')}`);
          continue;
        }
        let where: CompiledSummary['where'];
        if (sdef.where !== undefined) {
          const f = compileFilter(sdef.where);
          if (!f.ok) {
            this.err([...sat, 'where'], f.message, { inner: f.offset });
            continue;
          }
          where = f.fn;
        }
        summary.push({ name: sname, aggregator, params, of: sdef.of, where });
      }
      out.set(name, { name, groupBy: group.key, member, columns, summary });
    }
    return out;
  }

  private dashboards(aggregations: Map<string, CompiledAggregation>): Map<string, DashboardSpec> {
    const out = new Map<string, DashboardSpec>();
    for (const [name, def] of Object.entries<Record<string, any>>(this.spec.dashboards ?? {})) {
      const at: Path = ['dashboards', name];
      if (!aggregations.has(def.aggregation)) {
        if (!hasName(this.spec.aggregations, def.aggregation)) {
          this.err([...at, 'aggregation'], `unknown aggregation '${def.aggregation}'`, { hint: didYouMean(def.aggregation, Object.keys(this.spec.aggregations ?? {})) });
        }
        continue;
      }
      const { aggregation, push, min_interval, ...options } = def;
      out.set(name, { name, aggregation, push: push ?? 'on_change', minIntervalMs: min_interval === undefined ? 1000 : parseDuration(min_interval), options });
    }
    return out;
  }

  /** `identifiers:` are JSON paths with `[*]` (what --pseudonymize replaces): each must parse. */
  private identifiers(): void {
    const list: unknown[] = Array.isArray(this.spec.identifiers) ? this.spec.identifiers : [];
    list.forEach((p, i) => {
      try {
        if (typeof p !== 'string' || !p.startsWith('$')) throw new Error('a field path starts with $ (e.g. $.doc_id, $.bundles[*].sid)');
        normalizePath(p);
      } catch (err) {
        this.err(['identifiers', i], `bad JSON path: ${(err as Error).message}`, err instanceof JsonPathError ? { inner: err.offset } : {});
      }
    });
  }

  private archive(reducers: CompiledReducer[]): CompiledPipeline['archive'] {
    const def = this.spec.archive as Record<string, any> | undefined;
    if (!def) return undefined;
    const derived: string[] = def.derived ?? [];
    const emitted = new Set(reducers.flatMap((r) => [r.emit, r.late].filter((s): s is string => !!s)));
    derived.forEach((s, i) => {
      if (!emitted.has(s)) this.err(['archive', 'derived', i], `'${s}' is not a derived stream (no reducer emits it)`, { hint: didYouMean(s, emitted) });
    });
    const { raw, derived: _d, commit_every, ...options } = def;
    return { raw: raw !== false, derived, commitEveryMs: commit_every === undefined ? 10_000 : parseDuration(commit_every), options };
  }
}
