// Write values into a YAML file by splicing its text: everything outside the changed pairs stays byte for
// byte as written (comments, alignment, quoting), which re-stringifying a whole Document would not keep.
// Values are rendered compactly: a collection goes on one line in flow style when it fits, else block style.
import { isCollection, isPair, isScalar, stringify, type LineCounter, type Pair, type YAMLMap } from '../vendor/yaml.js';

export interface Edit {
  start: number;
  end: number;
  text: string;
}

const WIDTH = 100;

/** A scalar that reads the same in block and flow context: plain when unambiguous, else JSON-quoted. */
function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  return /^[A-Za-z_$][A-Za-z0-9_\-./$]*$/.test(s) && stringify(s, { lineWidth: 0 }).trim() === s ? s : JSON.stringify(s);
}

/** One line of flow style. */
export function flow(v: unknown): string {
  if (Array.isArray(v)) return v.length ? `[ ${v.map(flow).join(', ')} ]` : '[]';
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return entries.length ? `{ ${entries.map(([k, x]) => `${scalar(k)}: ${flow(x)}`).join(', ')} }` : '{}';
  }
  return scalar(v);
}

/**
 * The text after `key:` for a value whose key is at column `indent`: ` value` when it fits on the line, else
 * a newline and block lines indented below the key (nested parts again on one line when they fit).
 */
export function render(v: unknown, indent: number, forceBlock = false): string {
  const one = flow(v);
  const empty = Array.isArray(v) ? v.length === 0 : v !== null && typeof v === 'object' && Object.keys(v).length === 0;
  if (v === null || typeof v !== 'object' || empty || (!forceBlock && indent + one.length + 8 <= WIDTH)) return ` ${one}`;
  return '\n' + block(v, indent + 2).join('\n');
}

function block(v: unknown, indent: number): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${pad}[]`];
    for (const item of v) {
      const one = flow(item);
      if (item === null || typeof item !== 'object' || indent + 2 + one.length <= WIDTH) out.push(`${pad}- ${one}`);
      else {
        // `- ` followed by the item's first line, the rest indented under it.
        const lines = block(item, indent + 2);
        out.push(`${pad}- ${lines[0].trimStart()}`, ...lines.slice(1));
      }
    }
    return out;
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return [`${pad}{}`];
  for (const [k, x] of entries) out.push(`${pad}${scalar(k)}:${render(x, indent)}`);
  return out;
}

function keyOf(p: Pair): string | undefined {
  return isScalar(p.key) ? String(p.key.value) : undefined;
}

/**
 * Where a node's own text ends. A block collection's range runs on over trailing comments and the next
 * line's indentation, so its end is its last item's end; a block scalar's range ends after line breaks.
 */
function contentEnd(text: string, node: unknown): number | undefined {
  if (isCollection(node) && !node.flow && node.items.length) {
    const last = node.items[node.items.length - 1];
    return isPair(last) ? valueEnd(text, last) : contentEnd(text, last);
  }
  const range = (node as { range?: [number, number, number] } | null)?.range;
  if (!range) return undefined;
  let end = range[1];
  while (end > range[0] && /\s/.test(text[end - 1])) end--;
  return end;
}

function valueEnd(text: string, p: Pair): number {
  return contentEnd(text, p.value) ?? (p.key as { range: [number, number, number] }).range[1];
}

/**
 * Set `key` in a mapping node of `text` to `value` (replacing the pair named `replace` or `key` when there
 * is one, else adding a pair after the last one). `block`: a block mapping gets the value in block style
 * even when it would fit on one line (a list of expectations reads best one per line).
 */
export function setPair(text: string, lines: LineCounter, map: YAMLMap, key: string, value: unknown, replace = key, block = false): Edit {
  const pair = map.items.find((p) => keyOf(p) === replace);
  if (map.flow) {
    const v = flow(value);
    const start = map.range![0];
    const col = lines.linePos(start).col - 1;
    const fits = col + (map.range![1] - start) + key.length + v.length + 4 <= WIDTH;
    if (fits) {
      if (pair) return { start: (pair.key as any).range[0], end: valueEnd(text, pair), text: `${key}: ${v}` };
      let pos = text.lastIndexOf('}', map.range![1]);
      while (pos > start + 1 && /\s/.test(text[pos - 1])) pos--;
      return { start: pos, end: pos, text: `${map.items.length ? ', ' : ' '}${key}: ${v}` };
    }
    // Too long for one line: the mapping becomes block style, its other pairs kept as written.
    const pad = ' '.repeat(col);
    const kept = map.items
      .filter((p) => keyOf(p) !== replace)
      .map((p) => `${text.slice((p.key as any).range[0], (p.key as any).range[1])}: ${p.value ? text.slice((p.value as any).range[0], valueEnd(text, p)) : ''}`.trimEnd());
    const body = [...kept, `${scalar(key)}:${render(value, col)}`].map((l, i) => (i === 0 ? l : pad + l)).join('\n');
    return { start, end: map.range![1], text: body };
  }
  const first = map.items[0];
  const indent = first ? lines.linePos((first.key as any).range[0]).col - 1 : lines.linePos(map.range![0]).col - 1;
  if (pair) {
    return { start: (pair.key as any).range[0], end: valueEnd(text, pair), text: `${scalar(key)}:${render(value, indent, block)}` };
  }
  // After the end of the line holding the last pair's value, so a trailing comment stays on its line.
  const last = map.items[map.items.length - 1];
  const end = last ? valueEnd(text, last) : map.range![1];
  let pos = text.indexOf('\n', Math.max(end - 1, 0));
  if (pos < 0) pos = text.length;
  return { start: pos, end: pos, text: `\n${' '.repeat(indent)}${scalar(key)}:${render(value, indent, block)}` };
}

/** Apply non-overlapping edits (any order). */
export function applyEdits(text: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].end > sorted[i - 1].start) throw new Error('overlapping YAML edits');
  }
  let out = text;
  for (const e of sorted) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

