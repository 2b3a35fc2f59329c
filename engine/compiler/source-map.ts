// Positions of pipeline nodes: every error points at file:line:column of the YAML node it is about.
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from '../vendor/yaml.js';
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

export { didYouMean } from '../did-you-mean.js';
