import type { Json, Operator } from '../engine/types.js';
import { applyCommands, commandsOf, PLACEHOLDER, wordCount } from './gdocs.js';

export { PLACEHOLDER } from './gdocs.js';

export interface TextState {
  /** The main text (documents without tabs have only this). */
  text: string;
  /** Texts of the document's tabs by tab id (edits that arrive as `nm` commands naming a tab). */
  tabs: Record<string, string>;
  /** Characters added because an edit reached beyond the text we knew (logging began mid-document). */
  padded: number;
  edits: number;
  /** Only in a merge of several documents' states (a student's documents on a dashboard row): their sums. */
  totals?: { length: number; words: number; documents: number };
}

/** One state's sizes: a merged state's totals, or its own text (an untouched init state is no document). */
function sizes(s: TextState): { length: number; words: number; documents: number } {
  if (s.totals) return s.totals;
  const all = [s.text, ...Object.values(s.tabs ?? {})];
  const empty = s.edits === 0 && all.every((t) => t === '');
  return { length: all.reduce((n, t) => n + t.length, 0), words: all.reduce((n, t) => n + wordCount(t), 0), documents: empty ? 0 : 1 };
}

/**
 * Rebuilds a document's plain text from Google Docs edit events, following Learning Observer (operators/gdocs.ts
 * has the command semantics): a google_docs_save continues from the current text, a document_history rebuilds
 * from its changelog alone. A malformed command fails the whole event for this reducer; the state stays as it was.
 */
export const reconstructText: Operator<TextState, { include_text: boolean; padding: string }> = {
  name: 'reconstruct_text',
  summary:
    "A document's text rebuilt from Google Docs edits (is/ds/mlti/rplc/rvrt, tabs via nm; formatting and suggestions ignored): " +
    'length and words over all tabs, placeholder characters padded for text from before logging began; merged, a student’s documents summed.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      include_text: { type: 'boolean', description: 'show the text itself in the view (default false)' },
      // One UTF-16 unit: a longer one would shift every later index. "\u0000" gives Learning Observer's bytes.
      padding: { type: 'string', minLength: 1, maxLength: 1, description: `the character standing for text from before logging began (default ${PLACEHOLDER}; "\\u0000" as Learning Observer)` },
    },
  },
  prepare: (p: { include_text?: boolean; padding?: string }) => {
    // The schema counts code points; an emoji is one of those but two UTF-16 units.
    if (p.padding !== undefined && p.padding.length !== 1) throw new Error(`padding must be one UTF-16 code unit (got ${JSON.stringify(p.padding)})`);
    return { include_text: p.include_text === true, padding: p.padding ?? PLACEHOLDER };
  },
  init: () => ({ text: '', tabs: {}, padded: 0, edits: 0 }),
  reduce(s, e, _ctx, p) {
    const rebuild = e.event === 'document_history';
    const from = rebuild ? { text: '', tabs: {} } : { text: s.text, tabs: s.tabs ?? {} };
    const { doc, padded } = applyCommands(from, commandsOf(e), p.padding);
    s.text = doc.text;
    s.tabs = doc.tabs;
    s.padded = (rebuild ? 0 : s.padded) + padded;
    s.edits++;
    return s;
  },
  // Texts cannot be merged; what merges is their sizes: an aggregation row of a student|doc reducer shows the
  // student's documents together (length, words, edits and padding summed, and how many documents). It merges
  // different documents, never partial states of one document (its edits are order-sensitive).
  merge(a, b) {
    const x = sizes(a);
    const y = sizes(b);
    return {
      text: '',
      tabs: {},
      padded: a.padded + b.padded,
      edits: a.edits + b.edits,
      totals: { length: x.length + y.length, words: x.words + y.words, documents: x.documents + y.documents },
    };
  },
  view: (s, p) => {
    if (s.totals) return { length: s.totals.length, words: s.totals.words, padded: s.padded, edits: s.edits, documents: s.totals.documents };
    const tabs = Object.entries(s.tabs ?? {});
    const all = [s.text, ...tabs.map(([, t]) => t)];
    const view: Record<string, Json> = {
      length: all.reduce((n, t) => n + t.length, 0),
      words: all.reduce((n, t) => n + wordCount(t, p.padding), 0),
      padded: s.padded,
      edits: s.edits,
    };
    if (p.include_text) view.text = s.text;
    if (tabs.length) {
      const perTab: Record<string, Json> = {};
      for (const [id, t] of tabs) {
        const v: Record<string, Json> = { length: t.length, words: wordCount(t, p.padding) };
        if (p.include_text) v.text = t;
        perTab[id] = v;
      }
      view.tabs = perTab;
    }
    return view;
  },
  viewSchema: { type: 'object', additionalProperties: false, properties: { length: { type: 'integer' }, words: { type: 'integer' }, padded: { type: 'integer' }, edits: { type: 'integer' }, documents: { type: 'integer', description: 'merged views only: how many documents were summed' }, text: { type: 'string' }, tabs: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, properties: { length: { type: 'integer' }, words: { type: 'integer' }, text: { type: 'string' } } } } } },
  example: `text: { from: [extension], key: student_doc, where: "event == 'google_docs_save' || event == 'document_history'", op: reconstruct_text }`,
};
