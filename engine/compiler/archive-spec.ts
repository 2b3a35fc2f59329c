// The `archive:` and `identifiers:` sections: what is archived, and which fields name a student (what
// `archive export --pseudonymize` replaces).
import { normalizePath } from '../../archive/learners.js';
import { parseDuration } from '../duration.js';
import { JsonPathError } from '../jsonpath.js';
import type { CompiledPipeline, CompiledReducer } from '../types.js';
import type { CompileCtx } from './context.js';
import { didYouMean } from './source-map.js';

/** `identifiers:` are JSON paths with `[*]` (what --pseudonymize replaces): each must parse. */
export function checkIdentifiers(ctx: CompileCtx): void {
  const list: unknown[] = Array.isArray(ctx.spec.identifiers) ? ctx.spec.identifiers : [];
  list.forEach((p, i) => {
    try {
      if (typeof p !== 'string' || !p.startsWith('$')) throw new Error('a field path starts with $ (e.g. $.doc_id, $.bundles[*].sid)');
      normalizePath(p);
    } catch (err) {
      ctx.err(['identifiers', i], `bad JSON path: ${(err as Error).message}`, err instanceof JsonPathError ? { inner: err.offset } : {});
    }
  });
}

/** The `archive:` section: raw events and which derived streams are archived, and how often it commits. */
export function compileArchive(ctx: CompileCtx, reducers: CompiledReducer[]): CompiledPipeline['archive'] {
  const def = ctx.spec.archive as Record<string, any> | undefined;
  if (!def) return undefined;
  const derived: string[] = def.derived ?? [];
  const emitted = new Set(reducers.flatMap((r) => [r.emit, r.late].filter((s): s is string => !!s)));
  derived.forEach((s, i) => {
    if (!emitted.has(s)) ctx.err(['archive', 'derived', i], `'${s}' is not a derived stream (no reducer emits it)`, { hint: didYouMean(s, emitted) });
  });
  const { raw, derived: _d, commit_every, ...options } = def;
  return { raw: raw !== false, derived, commitEveryMs: commit_every === undefined ? 10_000 : parseDuration(commit_every), options };
}
