// Positions of pipeline nodes: every error points at file:line:column of the YAML node it is about.
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';
import type { PipelineError } from '../types.js';

export type Path = Array<string | number>;

export class SourceMap {
  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The node at a path (its key node when `key`), or the closest ancestor that exists. */
  node(path: Path, key = false): Node | undefined {
    let node: unknown = this.doc.contents;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return node as Node;
        if (last && key) return pair.key as Node;
        if (pair.value == null) return pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = node.items[seg];
      } else {
        return node as Node;
      }
    }
    return node as Node;
  }

  /** 1-based line and column of a path's node; `inner` is an offset inside a string scalar. */
  position(path: Path, opts: { key?: boolean; inner?: number } = {}): { line: number; column: number } {
    const node = this.node(path, opts.key);
    let offset = node?.range?.[0] ?? 0;
    if (opts.inner !== undefined && node && isScalar(node)) {
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
      offset += (quoted ? 1 : 0) + opts.inner;
    }
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  error(path: Path, message: string, opts: { key?: boolean; inner?: number; hint?: string } = {}): PipelineError {
    const { line, column } = this.position(path, opts);
    return { file: this.file, line, column, path: path.join('.'), message, ...(opts.hint ? { hint: opts.hint } : {}) };
  }
}

/** `file:line:col: message (at path) hint` */
export function formatError(e: PipelineError): string {
  return `${e.file || '<pipeline>'}:${e.line}:${e.column}: ${e.message}${e.path ? ` (at ${e.path})` : ''}${e.hint ? `; ${e.hint}` : ''}`;
}

/** Levenshtein distance, for did-you-mean hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** `; did you mean 'x'?` when a known name is close, else the list of known names. */
export function didYouMean(name: string, known: Iterable<string>): string {
  const list = [...known];
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of list) {
    const dd = distance(name.toLowerCase(), k.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = k;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3))) return `did you mean '${best}'?`;
  const prefix = list.find((k) => k.length >= 2 && (name.startsWith(k) || k.startsWith(name)));
  if (prefix) return `did you mean '${prefix}'?`;
  return list.length ? `known: ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', ...' : ''}` : '';
}
