// Safe expressions for `where:`, `map:` and summary filters: CEL (Common Expression Language) through
// @marcbachmann/cel-js, compiled once at pipeline load. CEL is not Turing-complete and has no access to the
// process; no eval or Function is used. The object's fields are top-level variables and `_` is the object.
import { Environment } from './vendor/cel-js.js';
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

/**
 * CEL's `matches()` is RE2: linear time in the input. cel-js implements it with JavaScript's backtracking
 * RegExp (`'^(a+)+$'` on 30 characters blocks for seconds), and its registry refuses a second overload of
 * `string.matches(string)`. So parsed expressions have their `matches` calls renamed to this function, which
 * runs re2js (a pure-JS port of RE2). Measured: 35-170 ns per test on short ids against 15-50 ns for RegExp;
 * small next to the per-event work, so every pattern goes through RE2 (same semantics everywhere).
 */
const RE2_MATCHES = 'loflow_re2_matches';
/** Literal patterns, compiled when the pipeline loads (keyed by source; few, bounded by pipeline texts). */
const literalPatterns = new Map<string, RE2JS>();
/** Patterns computed per event (`id.matches(prefix + '.*')`): compiled on first use, at most this many kept. */
const DYNAMIC_PATTERNS_MAX = 256;
const dynamicPatterns = new Map<string, RE2JS>();

/** re2js costs ~20 ms to load: required (its CommonJS build, synchronously) when a pipeline first has a pattern. */
let re2js: typeof import('re2js') | undefined;
const compileRe2 = (pattern: string): RE2JS => (re2js ??= createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS.compile(pattern);

function re2(pattern: string): RE2JS {
  const lit = literalPatterns.get(pattern);
  if (lit) return lit;
  let re = dynamicPatterns.get(pattern);
  if (re) {
    // Least recently used goes first: move this one to the end.
    dynamicPatterns.delete(pattern);
  } else {
    re = compileRe2(pattern); // a bad pattern throws: the evaluation errors (a filter is then false)
    if (dynamicPatterns.size >= DYNAMIC_PATTERNS_MAX) dynamicPatterns.delete(dynamicPatterns.keys().next().value!);
  }
  dynamicPatterns.set(pattern, re);
  return re;
}

/** Why a pattern is not RE2 (backreferences, lookaround, ...), or undefined when it compiles. */
function re2Error(pattern: string): string | undefined {
  try {
    literalPatterns.set(pattern, compileRe2(pattern));
    return undefined;
  } catch (err) {
    const e = err as Error & { getDescription?: () => string };
    return e.getDescription?.() ?? e.message;
  }
}

// The limits bound the expression (pipeline text), not the event: see the README's Expressions section.
const env = new Environment({ unlistedVariablesAreDyn: true, limits: { maxAstNodes: 10_000, maxDepth: 64 } }).registerFunction(
  `string.${RE2_MATCHES}(string): bool`,
  (s: string, pattern: string) => re2(pattern).test(s),
);

interface AstNode {
  op: string;
  args: any;
  start: number;
}

/** Every AST node once, the nodes of macro expansions (exists, all, map, ...) included. */
function walk(node: unknown, visit: (n: AstNode) => void, seen = new Set<unknown>()): void {
  if (!node || typeof node !== 'object' || seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit, seen);
    return;
  }
  const n = node as AstNode;
  if (typeof n.op === 'string' && 'args' in n) {
    visit(n);
    walk(n.args, visit, seen);
  } else for (const v of Object.values(node)) walk(v, visit, seen);
}

/** Names on Object.prototype: as CEL variables they must not resolve to inherited members. */
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype));

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
  let program: ((ctx: Record<string, any>) => unknown) & { ast: unknown };
  try {
    program = env.parse(src) as unknown as typeof program;
  } catch (err) {
    const m = (err as Error).message;
    return { ok: false, message: `bad expression: ${firstLine(m)}`, offset: errorOffset(m, src) };
  }
  let bad: { message: string; offset: number } | undefined;
  const shadowed: string[] = [];
  walk(program.ast, (n) => {
    if (n.op === 'rcall' && n.args[0] === 'matches' && Array.isArray(n.args[2]) && n.args[2].length === 1) {
      n.args[0] = RE2_MATCHES;
      const p = n.args[2][0] as AstNode;
      if (p.op === 'value' && typeof p.args === 'string') {
        const why = re2Error(p.args);
        if (why && !bad) bad = { message: `bad expression: matches() pattern is not RE2 syntax (${why})`, offset: p.start };
      }
    } else if (n.op === 'id' && INHERITED.has(n.args)) shadowed.push(n.args);
  });
  if (bad) return { ok: false, ...bad };
  if (shadowed.length === 0) {
    return {
      ok: true,
      fn: (obj) => {
        // Not Object.create(obj): making each object a prototype costs V8 a map change per call (it was a
        // third of a dashboard tick, for summary filters over rows). A primitive throws, as it did.
        if (obj != null && typeof obj !== 'object' && typeof obj !== 'function') throw new TypeError(`an expression evaluates against an object, not a ${typeof obj}`);
        return toJson(program(new Variables(obj ?? undefined)));
      },
    };
  }
  // A variable named like an Object member (`constructor`, `toString`): the event's own field or missing,
  // never the inherited function. Only expressions that use such a name pay for the extra properties.
  return {
    ok: true,
    fn: (obj) => {
      const ctx = Object.create(obj ?? null) as Record<string, any>;
      for (const name of shadowed) {
        Object.defineProperty(ctx, name, { value: obj != null && Object.hasOwn(obj, name) ? obj[name] : undefined, enumerable: true });
      }
      ctx._ = obj;
      return toJson(program(ctx));
    },
  };
}

/**
 * The variables of one evaluation: the object's fields (own or inherited, as a property read finds them)
 * and `_`, the object itself. cel-js reads a Map context with get(); nothing else of the Map is used.
 */
class Variables extends Map<string, unknown> {
  constructor(private readonly obj: Record<string, any> | undefined) {
    super();
  }

  override get(name: string): unknown {
    return name === '_' ? this.obj : this.obj?.[name];
  }
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
  // A field named like an Object member (`constructor`, `toString`): only the object's own field counts, as
  // in CEL (`in` and the read would find the inherited function).
  const ownStep = (v: any, seg: string): unknown => (v != null && typeof v === 'object' && Object.hasOwn(v, seg) ? v[seg] : MISSING);
  const steps = path.map((seg) => (INHERITED.has(seg) ? ownStep : step));
  if (path.length === 1) {
    // The common case (`event == 'keystroke'`): no loop.
    const [a] = path;
    const s = steps[0];
    return (o) => s(o, a);
  }
  return (o) => {
    let v: unknown = o;
    for (let i = 0; i < path.length; i++) {
      v = steps[i](v, path[i]);
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
