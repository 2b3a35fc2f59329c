import type { Json, LoEvent, Operator } from '../engine/types.js';

export interface TextState {
  text: string;
  /** Characters added because an edit reached beyond the text we knew (logging began mid-document). */
  padded: number;
  edits: number;
}

/** Stands for text that existed before logging began. */
export const PLACEHOLDER = '\u2591';

type Command = Record<string, any>;

function int(c: Command, field: string): number {
  const v = c[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new Error(`'${c.ty}' command needs ${field} as an integer >= 1 (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** Whitespace as the regular expression \s sees it (ECMAScript WhiteSpace and LineTerminator). */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 160) return false;
  return c === 160 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * Words: maximal runs of non-whitespace, as `text.split(/\s+/).filter(nonEmpty).length` counts them, without
 * building the words (a dashboard push computes this for every student's document).
 */
export function countWords(text: string): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const space = isSpace(text.charCodeAt(i));
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return words;
}

/** Apply one Google Docs command to `text` (1-based indices); returns the new text and padding added. */
function apply(text: string, c: Command, pad: { n: number }): string {
  if (!c || typeof c !== 'object') throw new Error(`a command must be an object (got ${JSON.stringify(c)})`);
  switch (c.ty) {
    case 'is': {
      const at = int(c, 'ibi');
      if (typeof c.s !== 'string') throw new Error(`'is' command needs s as a string`);
      if (at - 1 > text.length) {
        pad.n += at - 1 - text.length;
        text += PLACEHOLDER.repeat(at - 1 - text.length);
      }
      return text.slice(0, at - 1) + c.s + text.slice(at - 1);
    }
    case 'ds': {
      const si = int(c, 'si');
      const ei = int(c, 'ei');
      if (si > ei) throw new Error(`'ds' command has si ${si} > ei ${ei}`);
      if (ei > text.length) {
        pad.n += ei - text.length;
        text += PLACEHOLDER.repeat(ei - text.length);
      }
      return text.slice(0, si - 1) + text.slice(ei);
    }
    case 'mlti': {
      if (!Array.isArray(c.mts)) throw new Error(`'mlti' command needs mts as a list`);
      for (const m of c.mts) text = apply(text, m, pad);
      return text;
    }
    case 'rplc':
    case 'rvrt': {
      if (!Array.isArray(c.snapshot)) throw new Error(`'${c.ty}' command needs snapshot as a list`);
      let t = '';
      for (const m of c.snapshot.flat(3)) t = apply(t, m, pad);
      return t;
    }
    case 'nm': {
      // Named (tab-scoped) commands carry the real command inside.
      const inner = c.nmc ?? c.cmd;
      return inner ? apply(text, inner, pad) : text;
    }
    default:
      if (typeof c.ty !== 'string') throw new Error(`a command needs ty as a string (got ${JSON.stringify(c.ty)})`);
      return text; // formatting, suggestions, images: no change to the plain text
  }
}

function commandsOf(e: LoEvent): Command[] {
  if (e.event === 'document_history') {
    const log = e.history?.changelog;
    if (!Array.isArray(log)) throw new Error(`document_history needs history.changelog as a list`);
    return log.map((item: unknown) => (Array.isArray(item) ? item[0] : item));
  }
  if (!Array.isArray(e.bundles)) throw new Error(`google_docs_save needs bundles as a list`);
  const out: Command[] = [];
  for (const b of e.bundles) {
    if (!b || !Array.isArray(b.commands)) throw new Error(`each bundle needs commands as a list`);
    out.push(...b.commands);
  }
  return out;
}

/**
 * Rebuilds a document's plain text from Google Docs edit events (google_docs_save bundles, document_history
 * changelogs). A malformed command fails the whole event for this reducer (the state stays as it was).
 */
export const reconstructText: Operator<TextState, { include_text: boolean }> = {
  name: 'reconstruct_text',
  summary: "A document's text rebuilt from Google Docs edits (is/ds/mlti/rplc/rvrt/nm); length, words, padding.",
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { include_text: { type: 'boolean', description: 'show the text itself in the view (default false)' } },
  },
  prepare: (p: { include_text?: boolean }) => ({ include_text: p.include_text === true }),
  init: () => ({ text: '', padded: 0, edits: 0 }),
  reduce(s, e) {
    const pad = { n: 0 };
    // document_history rebuilds from the start; saves continue from the current text.
    let text = e.event === 'document_history' ? '' : s.text;
    for (const c of commandsOf(e)) text = apply(text, c, pad);
    s.text = text;
    s.padded += pad.n;
    s.edits++;
    return s;
  },
  view: (s, p) => {
    const words = countWords(s.text);
    const view: Record<string, Json> = { length: s.text.length, words, padded: s.padded, edits: s.edits };
    if (p.include_text) view.text = s.text;
    return view;
  },
  example: `text: { from: [extension], key: student_doc, where: "event == 'google_docs_save'", op: reconstruct_text }`,
};
