// The `sources:` section, and the names no section may use.
import { parseDuration } from '../duration.js';
import { eventValidator } from '../event-schemas.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_DEPTH, DEFAULT_MAX_NODES, DEFAULT_MIN_EVENT_TIME, describeStructure, structureProblem, timeProblem } from '../event-limits.js';
import type { CompiledSource, LoEvent } from '../types.js';
import { eventTs, hasName, type CompileCtx } from './context.js';
import type { Path } from './source-map.js';

/**
 * `__proto__` cannot be a name: assigning it to a plain object (a result row, a JSON output) sets the
 * prototype instead, so whatever it names would silently vanish. Other Object member names (`toString`,
 * `constructor`) are ordinary names: lookups here use Maps and own properties.
 */
export function checkReservedNames(ctx: CompileCtx): void {
  const reserved = '__proto__';
  const bad = (path: Path, key: boolean) => ctx.err(path, `reserved name '${reserved}': it has a special meaning in JavaScript; choose another name`, { key });
  for (const section of ['sources', 'rosters', 'keys', 'reducers', 'aggregations', 'dashboards']) {
    if (hasName(ctx.spec[section], reserved)) bad([section, reserved], true);
  }
  for (const [name, def] of Object.entries<Record<string, any>>(ctx.spec.reducers ?? {})) {
    for (const field of ['emit', 'late']) if (def?.[field] === reserved) bad(['reducers', name, field], false);
  }
  for (const [name, def] of Object.entries<Record<string, any>>(ctx.spec.aggregations ?? {})) {
    if (def?.columns && !Array.isArray(def.columns) && hasName(def.columns, reserved)) bad(['aggregations', name, 'columns', reserved], true);
    if (Array.isArray(def?.columns)) def.columns.forEach((c: unknown, i: number) => typeof c === 'string' && c.split('.')[0] === reserved && bad(['aggregations', name, 'columns', i], false));
    if (hasName(def?.summary, reserved)) bad(['aggregations', name, 'summary', reserved], true);
  }
}

/** The `sources:` section: each source's event checks (structure bounds, schema, event time). */
export function compileSources(ctx: CompileCtx): Map<string, CompiledSource> {
  const out = new Map<string, CompiledSource>();
  for (const [name, def] of Object.entries<Record<string, any>>(ctx.spec.sources ?? {})) {
    const schema: string = def.schema ?? 'lo-event';
    let validate: (e: unknown) => string | null;
    try {
      validate = eventValidator(schema, ctx.baseDir);
    } catch (err) {
      ctx.err(['sources', name, 'schema'], `cannot load event schema '${schema}': ${(err as Error).message.split('\n')[0]}`);
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
        ctx.err(['sources', name, 'max_clock_skew'], (err as Error).message);
      }
    }
    let minEventTime = DEFAULT_MIN_EVENT_TIME;
    if (min_event_time !== undefined) {
      minEventTime = typeof min_event_time === 'number' ? min_event_time : Date.parse(String(min_event_time));
      if (!Number.isFinite(minEventTime)) ctx.err(['sources', name, 'min_event_time'], `'${String(min_event_time)}' is not a time: write a date (2000-01-01) or ms since the epoch`);
    }
    // The bounds come before the schema: a schema may recurse into the event (ajv's validators do), and a
    // bounded event cannot overflow it.
    const checked = (e: unknown) => {
      const problem = structureProblem(e, maxDepth, maxNodes);
      return problem ? describeStructure(problem, maxDepth, maxNodes) : validate(e);
    };
    const timeFields = ctx.timeFields.get(name) ?? [];
    // `ts` as reducers read it by default (numbers only; another type leaves the arrival time in force).
    timeFields.push({ field: 'ts', get: eventTs });
    ctx.timeFields.set(name, timeFields);
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
