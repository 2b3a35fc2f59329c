// Compare an expected value (as written in a test) with an actual one, listing every difference with its
// path inside the value. Modes:
//   exact   objects must have exactly the expected keys; arrays the same length (the default)
//   subset  objects: only the expected keys are compared; arrays: see ArrayMode
// and, anywhere in an expected value, a numeric matcher `{approx: N, tolerance: T}` (absolute) or
// `{approx: N, relative: R}` (a fraction of N); `{approx: N}` alone allows float rounding noise only.
import { stringify } from '../vendor/yaml.js';

export type MatchMode = 'exact' | 'subset';
/** How subset matching treats arrays: same length in order, any order, or in order with gaps. */
export type ArrayMode = 'exact' | 'contains' | 'ordered';

export interface MatchOptions {
  mode: MatchMode;
  arrays: ArrayMode;
}

export interface Mismatch {
  /** Path inside the value: `.count`, `[2].window_end`; '' for the whole value. */
  path: string;
  expected: unknown;
  actual: unknown;
  /** What is wrong, when "expected X, got Y" is not enough. */
  note?: string;
}

/** A value that is not there (a missing key, no state): printed as such, distinct from null. */
export const MISSING = Symbol('missing');

export interface Approx {
  approx: number;
  tolerance?: number;
  relative?: number;
}

const APPROX_KEYS = new Set(['approx', 'tolerance', 'relative']);

export function isApprox(v: unknown): v is Approx {
  if (!isObject(v) || typeof v.approx !== 'number') return false;
  return Object.keys(v).every((k) => APPROX_KEYS.has(k) && (typeof v[k] === 'number' || v[k] === undefined));
}

/** The allowed distance from `approx`: the larger of tolerance, relative * |approx| and float noise. */
export function allowance(a: Approx): number {
  const noise = 1e-9 * Math.max(1, Math.abs(a.approx));
  return Math.max(noise, a.tolerance ?? 0, (a.relative ?? 0) * Math.abs(a.approx));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function matchValue(expected: unknown, actual: unknown, opts: MatchOptions, path = ''): Mismatch[] {
  if (isApprox(expected)) {
    if (typeof actual === 'number' && Math.abs(actual - expected.approx) <= allowance(expected)) return [];
    return [{ path, expected, actual }];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [{ path, expected, actual }];
    if (opts.mode === 'subset' && opts.arrays !== 'exact') return matchLooseArray(expected, actual, opts, path);
    const out: Mismatch[] = [];
    const n = Math.max(expected.length, actual.length);
    for (let i = 0; i < n; i++) {
      if (i >= expected.length) out.push({ path: `${path}[${i}]`, expected: MISSING, actual: actual[i], note: 'unexpected element' });
      else if (i >= actual.length) out.push({ path: `${path}[${i}]`, expected: expected[i], actual: MISSING });
      else out.push(...matchValue(expected[i], actual[i], opts, `${path}[${i}]`));
    }
    return out;
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return [{ path, expected, actual }];
    const out: Mismatch[] = [];
    for (const [k, e] of Object.entries(expected)) {
      const p = `${path}${keyPath(k)}`;
      if (!Object.hasOwn(actual, k)) out.push({ path: p, expected: e, actual: MISSING });
      else out.push(...matchValue(e, actual[k], opts, p));
    }
    if (opts.mode === 'exact') {
      for (const k of Object.keys(actual)) {
        if (!Object.hasOwn(expected, k)) out.push({ path: `${path}${keyPath(k)}`, expected: MISSING, actual: actual[k], note: 'unexpected key (match: subset ignores it)' });
      }
    }
    return out;
  }
  // Scalars (and null): the same value and type.
  return Object.is(expected, actual) || (expected === 0 && actual === 0) ? [] : [{ path, expected, actual }];
}

/** contains: each expected element matches a different actual one; ordered: and in this order. */
function matchLooseArray(expected: unknown[], actual: unknown[], opts: MatchOptions, path: string): Mismatch[] {
  const used = new Set<number>();
  let from = 0;
  const out: Mismatch[] = [];
  for (let i = 0; i < expected.length; i++) {
    let found = -1;
    for (let j = opts.arrays === 'ordered' ? from : 0; j < actual.length; j++) {
      if (used.has(j)) continue;
      if (matchValue(expected[i], actual[j], opts).length === 0) {
        found = j;
        break;
      }
    }
    if (found < 0) {
      const where = opts.arrays === 'ordered' ? `after element ${from - 1}` : 'anywhere';
      out.push({ path: `${path}[${i}]`, expected: expected[i], actual: MISSING, note: `no actual element matches ${opts.arrays === 'ordered' && from > 0 ? where : 'it'} (arrays: ${opts.arrays}); actual has ${actual.length}` });
    } else {
      used.add(found);
      from = found + 1;
    }
  }
  return out;
}

function keyPath(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

/** One line of YAML flow style (what a test would say), cut at `max` characters. */
export function show(v: unknown, max = 160): string {
  if (v === MISSING) return '(missing)';
  if (v === undefined) return '(none)';
  if (isApprox(v)) {
    const a = allowance(v);
    return a > 1e-9 * Math.max(1, Math.abs(v.approx)) ? `${v.approx} ± ${+a.toPrecision(6)}` : `≈ ${v.approx}`;
  }
  const s = stringify(v, { collectionStyle: 'flow', lineWidth: 0 }).trim();
  return s.length > max ? s.slice(0, max - 3) + '...' : s;
}

/**
 * A new expected value that matches `actual` while keeping the shape the test author chose: in subset mode
 * only the keys they listed, and `approx` matchers (with their tolerance) where numbers were. Used by
 * `--update --force` to rewrite a failing expectation.
 */
export function refresh(expected: unknown, actual: unknown, opts: MatchOptions): unknown {
  if (actual === MISSING || actual === undefined) return null;
  if (isApprox(expected)) return typeof actual === 'number' ? { ...expected, approx: actual } : actual;
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (opts.mode === 'subset' && opts.arrays !== 'exact') return actual;
    return actual.map((a, i) => (i < expected.length ? refresh(expected[i], a, opts) : a));
  }
  if (isObject(expected) && isObject(actual)) {
    const out: Record<string, unknown> = {};
    if (opts.mode === 'subset') {
      for (const k of Object.keys(expected)) if (k in actual) out[k] = refresh(expected[k], actual[k], opts);
    } else {
      for (const k of Object.keys(actual)) out[k] = k in expected ? refresh(expected[k], actual[k], opts) : actual[k];
    }
    return out;
  }
  return actual;
}
