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
  const tests: Array<(o: Record<string, any>) => boolean | undefined> = [];
  for (const part of parts) {
    const m = term.exec(part);
    if (!m) return undefined;
    const path = m[1].split('.');
    const lit = m[3] ?? m[4];
    const eq = m[2] === '==';
    tests.push((o) => {
      let v: any = o;
      for (const seg of path) {
        if (v == null || typeof v !== 'object' || !(seg in v)) return undefined; // missing: CEL errors
        v = v[seg];
      }
      // CEL's equality is heterogeneous: a value of another type is simply not equal.
      return eq ? v === lit : v !== lit;
    });
  }
  if (tests.length === 1) {
    const t = tests[0];
    return (o) => t(o) === true;
  }
  // CEL's || and && are commutative over errors: true || error = true, false && error = false.
  return hasOr
    ? (o) => {
        for (const t of tests) if (t(o) === true) return true;
        return false;
      }
    : (o) => {
        let ok = true;
        for (const t of tests) {
          const r = t(o);
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
