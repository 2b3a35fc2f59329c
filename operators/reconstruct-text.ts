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
    'length and words over all tabs, placeholder characters padded for text from before logging began.',
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
  view: (s, p) => {
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
  viewSchema: { type: 'object', additionalProperties: false, properties: { length: { type: 'integer' }, words: { type: 'integer' }, padded: { type: 'integer' }, edits: { type: 'integer' }, text: { type: 'string' }, tabs: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, properties: { length: { type: 'integer' }, words: { type: 'integer' }, text: { type: 'string' } } } } } },
  example: `text: { from: [extension], key: student_doc, where: "event == 'google_docs_save' || event == 'document_history'", op: reconstruct_text }`,
};
