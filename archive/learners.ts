// Learner identifiers in archived events: which JSON paths hold them (read from the archived pipeline's
// `keys`, so archives written without a compiled pipeline agree), and reading, replacing or removing a path.
import { parse as parseYaml } from '../engine/vendor/yaml.js';
import { compilePath, parsePath } from '../engine/jsonpath.js';
import type { LoEvent } from '../engine/types.js';

/** Key names that identify a learner. A pipeline with none of them falls back to Learning Observer's field. */
const LEARNER_KEY = /^(student|learner|user|user_id|student_id|learner_id)$/i;
export const DEFAULT_LEARNER_PATH = '$.auth.user_id';

/**
 * The JSON paths of the pipeline's learner keys (`keys.student: $.auth.user_id`, ...), the main one first.
 * Unparseable text, or a pipeline that names no learner key, gives Learning Observer's `$.auth.user_id`.
 */
export function learnerPaths(pipelineText: string): string[] {
  let keys: Record<string, unknown> = {};
  try {
    const doc = parseYaml(pipelineText) as { keys?: Record<string, unknown> } | null;
    if (doc && typeof doc.keys === 'object' && doc.keys) keys = doc.keys;
  } catch {
    // not YAML: the default below
  }
  const paths: string[] = [];
  for (const [name, def] of Object.entries(keys)) {
    if (!LEARNER_KEY.test(name)) continue;
    const path = typeof def === 'string' ? def : typeof (def as { path?: unknown })?.path === 'string' ? (def as { path: string }).path : undefined;
    if (path && path.startsWith('$') && !paths.includes(path)) paths.push(path);
  }
  return paths.length ? paths : [DEFAULT_LEARNER_PATH];
}

/**
 * Every field that identifies a person, for `archive export --pseudonymize`: the pipeline's `identifiers:`
 * (e.g. $.doc_id, $.url, $.bundles[*].sid: values that contain a student id) and its learner key paths.
 */
export function identifierPaths(pipelineText: string): string[] {
  const paths = learnerPaths(pipelineText);
  try {
    const doc = parseYaml(pipelineText) as { identifiers?: unknown } | null;
    for (const p of Array.isArray(doc?.identifiers) ? doc.identifiers : []) {
      if (typeof p !== 'string') continue;
      const n = normalizePath(p);
      if (!paths.includes(n)) paths.push(n);
    }
  } catch {
    // not YAML, or a bad path (the compiler refuses those): the learner paths alone
  }
  return paths;
}

/** Stands for every item of an array (or value of an object) in a field path: `bundles[*].sid`. */
export const EACH = Symbol('each');
export type Segment = string | number | typeof EACH;

/** The engine's JSON path subset plus `[*]`, for naming fields to pseudonymize or drop. */
export function parseFieldPath(path: string): Segment[] {
  const parts = path.split('[*]');
  const out: Segment[] = [];
  parts.forEach((part, k) => {
    if (k > 0) out.push(EACH);
    out.push(...parsePath(k === 0 ? part : `$${part}`));
  });
  return out;
}

/** The source (raw) stream names of an archived pipeline: the other streams are derived. */
export function pipelineSources(pipelineText: string): string[] {
  try {
    const doc = parseYaml(pipelineText) as { sources?: Record<string, unknown> } | null;
    return Object.keys(doc?.sources ?? {});
  } catch {
    return [];
  }
}

/** `server.ip` and `$.server.ip` both name the field at $.server.ip; `[*]` means every item. A bad path throws. */
export function normalizePath(path: string): string {
  const p = path.startsWith('$') ? path : `$.${path}`;
  parseFieldPath(p);
  return p;
}

/** Reads the learner id of an event at `path` (strings and numbers; anything else is not an id). */
export function learnerReader(path: string | null): (event: LoEvent) => string | null {
  if (!path) return () => null;
  const get = compilePath(path);
  return (event) => {
    const v = get(event);
    return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ? String(v) : null;
  };
}

// rewritePath runs per event and field: each path is parsed once (a few paths per export; bounded anyway).
const parsedPaths = new Map<string, Segment[]>();
function parsedPath(path: string): Segment[] {
  let segs = parsedPaths.get(path);
  if (!segs) {
    if (parsedPaths.size >= 1000) parsedPaths.clear();
    parsedPaths.set(path, (segs = parseFieldPath(path)));
  }
  return segs;
}

/** A copy of `event` with the value(s) at `path` replaced (where present) by fn(value), or removed (fn null). */
export function rewritePath(event: unknown, path: string, fn: ((v: unknown) => unknown) | null): unknown {
  const segs = parsedPath(path);
  const go = (v: unknown, i: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const s = segs[i];
    if (s === EACH) {
      if (Array.isArray(v)) return v.map((x) => (i === segs.length - 1 ? (fn ? fn(x) : null) : go(x, i + 1)));
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (i < segs.length - 1 || fn) o[k] = i === segs.length - 1 ? fn!(x) : go(x, i + 1);
      return o;
    }
    if (!Object.hasOwn(v as object, s as string | number)) return v;
    const copy: any = Array.isArray(v) ? v.slice() : { ...(v as object) };
    if (i === segs.length - 1) {
      if (fn) copy[s] = fn(copy[s]);
      else if (Array.isArray(copy)) copy[s as number] = null; // keep the other items' positions
      else delete copy[s];
    } else copy[s] = go(copy[s], i + 1);
    return copy;
  };
  return segs.length ? go(event, 0) : event;
}

/**
 * rewritePath applied for each [path, fn] in turn, with the same result, but copying each object on the
 * paths once per event instead of once per path (a dozen paths made a dozen copies of the event's top).
 */
export function rewritePaths(event: unknown, rewrites: ReadonlyArray<readonly [string, ((v: unknown) => unknown) | null]>): unknown {
  const fresh = new Set<object>(); // this call's copies: changed in place by the later paths
  const own = <T extends object>(v: T): T => {
    if (fresh.has(v)) return v;
    const c = (Array.isArray(v) ? v.slice() : { ...v }) as T;
    fresh.add(c);
    return c;
  };
  let out = event;
  for (const [path, fn] of rewrites) {
    const segs = parsedPath(path);
    const last = segs.length - 1;
    const go = (v: unknown, i: number): unknown => {
      if (v === null || typeof v !== 'object') return v;
      const s = segs[i];
      if (s === EACH) {
        const each = (x: unknown) => (i === last ? (fn ? fn(x) : null) : go(x, i + 1));
        if (Array.isArray(v)) {
          if (!fresh.has(v)) {
            const c = v.map(each);
            fresh.add(c);
            return c;
          }
          for (let j = 0; j < v.length; j++) if (j in v) v[j] = each(v[j]);
          return v;
        }
        const o: Record<string, unknown> = {};
        fresh.add(o);
        for (const [k, x] of Object.entries(v)) if (i < last || fn) o[k] = each(x);
        return o;
      }
      if (!Object.hasOwn(v as object, s as string | number)) return v;
      const c: any = own(v as object);
      if (i === last) {
        if (fn) c[s] = fn(c[s]);
        else if (Array.isArray(c)) c[s as number] = null; // keep the other items' positions
        else delete c[s];
      } else c[s] = go(c[s], i + 1);
      return c;
    };
    if (segs.length) out = go(out, 0);
  }
  return out;
}
