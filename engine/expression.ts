// Safe expressions for `where:`, `map:` and summary filters: CEL (Common Expression Language) through
// @marcbachmann/cel-js, compiled once at pipeline load. CEL is not Turing-complete and has no access to the
// process; no eval or Function is used. The object's fields are top-level variables and `_` is the object.
import { parse } from '@marcbachmann/cel-js';

export type CompiledExpression = { ok: true; fn: (ctx: Record<string, any>) => unknown } | { ok: false; message: string; offset: number };

/** Where a CEL error points: the caret line under the source line in its message. */
function errorOffset(message: string, src: string): number {
  const lines = message.split('\n');
  const caret = lines.findIndex((l) => /^\s*\^\s*$/.test(l));
  if (caret > 0) {
    const code = lines[caret - 1];
    const bar = code.indexOf('| ');
    if (bar >= 0) return Math.max(0, Math.min(src.length, lines[caret].indexOf('^') - (bar + 2)));
  }
  return 0;
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

/** CEL integers are BigInt: turn results into JSON numbers. */
function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
  return v;
}

export function compileExpression(src: string): CompiledExpression {
  if (typeof src !== 'string' || src.trim() === '') return { ok: false, message: 'an expression must be a non-empty string', offset: 0 };
  let program: (ctx: Record<string, any>) => unknown;
  try {
    program = parse(src) as unknown as (ctx: Record<string, any>) => unknown;
  } catch (err) {
    const m = (err as Error).message;
    return { ok: false, message: `bad expression: ${firstLine(m)}`, offset: errorOffset(m, src) };
  }
  return {
    ok: true,
    fn: (obj) => {
      const ctx = Object.create(obj ?? null) as Record<string, any>;
      ctx._ = obj;
      return toJson(program(ctx));
    },
  };
}

/** What a field read returns when the field is missing (CEL errors there); no literal equals it. */
const MISSING: unique symbol = Symbol('missing');

/** A reader of a dotted field: its value, or MISSING when a step is not an object or lacks the field. */
function fieldReader(path: string[]): (o: unknown) => unknown {
  // Read first, `in` only for an undefined value: one lookup in the common case, the same answer as `in` then read.
  const step = (v: any, seg: string): unknown => {
    if (v == null || typeof v !== 'object') return MISSING;
    const x = v[seg];
    return x !== undefined || seg in v ? x : MISSING;
  };
  if (path.length === 1) {
    // The common case (`event == 'keystroke'`): no loop.
    const [a] = path;
    return (o) => step(o, a);
  }
  return (o) => {
    let v: unknown = o;
    for (let i = 0; i < path.length; i++) {
      v = step(v, path[i]);
      if (v === MISSING) return MISSING;
    }
    return v;
  };
}

/**
 * Fast path for the most common filters: `field == 'literal'` terms (== or !=, dotted fields) joined only by
 * `||` or only by `&&`. They compile to plain closures with the same meaning as CEL (a missing field makes the
 * filter false); anything else goes to cel-js. test/compiler/expression.test.ts checks both agree.
 */
export function compileSimpleFilter(src: string): ((obj: Record<string, any>) => boolean) | undefined {
  const term = /^\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*(==|!=)\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*$/;
  const hasOr = src.includes('||');
  const hasAnd = src.includes('&&');
  if (hasOr && hasAnd) return undefined;
  const parts = src.split(hasOr ? '||' : '&&');
  const terms: Array<{ field: string; lit: string; eq: boolean }> = [];
  for (const part of parts) {
    const m = term.exec(part);
    if (!m) return undefined;
    terms.push({ field: m[1], lit: m[3] ?? m[4], eq: m[2] === '==' });
  }
  // `f == 'a' || f == 'b'` (and a single `f == 'a'`): one read of the field, compared with each literal.
  // A missing field reads as MISSING, which equals no literal: false, as CEL's error makes it.
  if ((hasOr || terms.length === 1) && terms.every((t) => t.eq && t.field === terms[0].field)) {
    const read = fieldReader(terms[0].field.split('.'));
    const lits = terms.map((t) => t.lit);
    if (lits.length === 1) {
      const [a] = lits;
      return (o) => read(o) === a;
    }
    if (lits.length === 2) {
      const [a, b] = lits;
      return (o) => {
        const v = read(o);
        return v === a || v === b;
      };
    }
    return (o) => lits.includes(read(o) as string);
  }
  // CEL's equality is heterogeneous: a value of another type is simply not equal. undefined: the field is missing.
  const tests = terms.map(({ field, lit, eq }): ((o: Record<string, any>) => boolean | undefined) => {
    const read = fieldReader(field.split('.'));
    return (o) => {
      const v = read(o);
      return v === MISSING ? undefined : eq ? v === lit : v !== lit;
    };
  });
  if (tests.length === 1) {
    const t = tests[0];
    return (o) => t(o) === true;
  }
  // CEL's || and && are commutative over errors: true || error = true, false && error = false.
  return hasOr
    ? (o) => {
        for (let i = 0; i < tests.length; i++) if (tests[i](o) === true) return true;
        return false;
      }
    : (o) => {
        let ok = true;
        for (let i = 0; i < tests.length; i++) {
          const r = tests[i](o);
          if (r === false) return false;
          if (r === undefined) ok = false;
        }
        return ok;
      };
}

/**
 * A filter: true when the expression is true. A field the event does not have makes it false rather than
 * an error (events of other kinds routinely lack fields).
 */
export function compileFilter(src: string): { ok: true; fn: (obj: Record<string, any>) => boolean } | { ok: false; message: string; offset: number } {
  const c = compileExpression(src);
  if (!c.ok) return c;
  const fast = compileSimpleFilter(src);
  if (fast) return { ok: true, fn: fast };
  return {
    ok: true,
    fn: (obj) => {
      try {
        return c.fn(obj) === true;
      } catch {
        return false;
      }
    },
  };
}
