// Google Docs edit commands as the Learning Observer extension logs them (google_docs_save bundles and
// document_history changelogs), applied to plain text. See /work/shared/lo-protocol.md and Learning
// Observer's writing_observer/reconstruct_doc.py, whose semantics this follows:
// - indices are 1-based positions in the text, counted in UTF-16 code units (the editor is JavaScript);
// - `is` {ibi, s}: insert s so that it starts at ibi;
// - `ds` {si, ei}: delete si..ei, both included;
// - `mlti` {mts}: apply mts in order (they may nest);
// - `rplc` / `rvrt` {snapshot}: each `is` entry {ibi, s, sl?} of the snapshot overwrites `sl` characters
//   starting at ibi (default: as many as it writes) with s; other entries (formatting) change no text;
// - `nm` {nmc, nmr}: apply the command nmc to the tab named by the last `t.` string of nmr (the main
//   text when there is none); every tab is a text of its own, listed (empty) from its first `nm` even when
//   that command changes no text (as LO creates it);
// - any other `ty` (formatting, suggestions, images, tab titles, ...) changes no text.
// An edit beyond the end means the text existed before logging began: the gap is padded with PLACEHOLDER
// and counted (only up to the edit: for a `ds` wholly past the end, LO pads both si and ei from the old end and
// so leaves si - length extra placeholders; we do not). Malformed commands (missing fields, wrong types,
// si > ei) throw.
import type { LoEvent } from '../engine/types.js';

/** Stands for text that existed before logging began. */
export const PLACEHOLDER = '\u2591';

/** A document's texts: the main text and one per tab (by tab id, e.g. `t.0`). */
export interface DocTexts {
  text: string;
  tabs: Record<string, string>;
}

type Command = Record<string, unknown>;

function asCommand(c: unknown, where: string): Command {
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new Error(`${where} must be an object (got ${JSON.stringify(c)})`);
  const ty = (c as Command).ty;
  if (typeof ty !== 'string') throw new Error(`${where} needs ty as a string (got ${JSON.stringify(ty)})`);
  return c as Command;
}

function index(c: Command, field: string, min = 1): number {
  const v = c[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new Error(`'${c.ty}' command needs ${field} as an integer >= ${min} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function string(c: Command, field: string): string {
  if (typeof c[field] !== 'string') throw new Error(`'${c.ty}' command needs ${field} as a string (got ${JSON.stringify(c[field])})`);
  return c[field] as string;
}

function list(c: Command, field: string): unknown[] {
  if (!Array.isArray(c[field])) throw new Error(`'${c.ty}' command needs ${field} as a list`);
  return c[field] as unknown[];
}

/** The tab an `nm` command targets: the last `t.`-prefixed string of nmr, or null for the main text. */
function tabOf(c: Command): string | null {
  if (c.nmr === undefined || c.nmr === null) return null;
  if (!Array.isArray(c.nmr)) throw new Error(`'nm' command needs nmr as a list (got ${JSON.stringify(c.nmr)})`);
  for (let i = c.nmr.length - 1; i >= 0; i--) {
    const r = c.nmr[i];
    if (typeof r === 'string' && r.startsWith('t.')) return r;
  }
  return null;
}

/** Applies commands to a working copy; nothing is written back unless every command applies. */
class Editor {
  text: string;
  tabs: Record<string, string>;
  padded = 0;

  constructor(
    from: DocTexts,
    private readonly padding = PLACEHOLDER,
  ) {
    this.text = from.text;
    this.tabs = { ...from.tabs };
  }

  private get(tab: string | null): string {
    return tab === null ? this.text : (this.tabs[tab] ?? '');
  }

  private set(tab: string | null, text: string): void {
    if (tab === null) this.text = text;
    else this.tabs[tab] = text;
  }

  /** Makes the text at least `length` long, padding with placeholders (text from before logging began). */
  private reach(text: string, length: number): string {
    if (length <= text.length) return text;
    this.padded += length - text.length;
    return text + this.padding.repeat(length - text.length);
  }

  apply(raw: unknown, tab: string | null): void {
    const c = asCommand(raw, 'a command');
    switch (c.ty) {
      case 'is': {
        const ibi = index(c, 'ibi');
        const s = string(c, 's');
        const text = this.reach(this.get(tab), ibi - 1);
        this.set(tab, text.slice(0, ibi - 1) + s + text.slice(ibi - 1));
        return;
      }
      case 'ds': {
        const si = index(c, 'si');
        const ei = index(c, 'ei');
        if (si > ei) throw new Error(`'ds' command has si ${si} > ei ${ei}`);
        const text = this.reach(this.get(tab), ei);
        this.set(tab, text.slice(0, si - 1) + text.slice(ei));
        return;
      }
      case 'mlti':
        for (const m of list(c, 'mts')) this.apply(m, tab);
        return;
      case 'rplc':
      case 'rvrt':
        // Snapshots are lists of entries; tolerate them arriving wrapped in further lists.
        for (const entry of list(c, 'snapshot').flat(Infinity)) {
          const e = asCommand(entry, `a '${c.ty}' snapshot entry`);
          if (e.ty !== 'is') continue; // formatting entries carry no text
          const ibi = index(e, 'ibi');
          const s = string(e, 's');
          const sl = e.sl === undefined ? s.length : index(e, 'sl', 0);
          const text = this.reach(this.get(tab), ibi - 1);
          this.set(tab, text.slice(0, ibi - 1) + s + text.slice(ibi - 1 + sl));
        }
        return;
      case 'nm': {
        const inner = c.nmc;
        if (inner === undefined) throw new Error(`'nm' command needs nmc (the command it carries)`);
        const target = tabOf(c);
        if (target !== null && !Object.hasOwn(this.tabs, target)) this.tabs[target] = '';
        this.apply(inner, target ?? tab);
        return;
      }
      default:
        return; // formatting, suggestions, images, tab titles: no change to the plain text
    }
  }
}

/**
 * Applies `commands` to `doc`. Returns the new texts and the placeholder characters added; throws on the
 * first malformed command, leaving `doc` untouched.
 */
export function applyCommands(doc: DocTexts, commands: unknown[], padding = PLACEHOLDER): { doc: DocTexts; padded: number } {
  const ed = new Editor(doc, padding);
  for (const c of commands) ed.apply(c, null);
  return { doc: { text: ed.text, tabs: ed.tabs }, padded: ed.padded };
}

/** The commands of a google_docs_save (all bundles, in order) or a document_history (its changelog). */
export function commandsOf(e: LoEvent): unknown[] {
  if (e.event === 'document_history') {
    const log = e.history?.changelog;
    if (!Array.isArray(log)) throw new Error(`document_history needs history.changelog as a list`);
    // Each changelog item is [command, time, user, revision, ...]; a bare command is accepted too.
    return log.map((item: unknown) => (Array.isArray(item) ? item[0] : item));
  }
  if (!Array.isArray(e.bundles)) throw new Error(`google_docs_save needs bundles as a list`);
  const out: unknown[] = [];
  for (const b of e.bundles) {
    if (!b || !Array.isArray(b.commands)) throw new Error(`each bundle needs commands as a list`);
    out.push(...b.commands);
  }
  return out;
}

/** Visits every text command inside `commands`, descending into mlti and nm (not into snapshots). */
export function eachCommand(commands: unknown[], visit: (c: Record<string, any>) => void): void {
  for (const c of commands) {
    if (!c || typeof c !== 'object') continue;
    const cmd = c as Record<string, any>;
    if (cmd.ty === 'mlti' && Array.isArray(cmd.mts)) eachCommand(cmd.mts, visit);
    else if (cmd.ty === 'nm' && cmd.nmc !== undefined) eachCommand([cmd.nmc], visit);
    else visit(cmd);
  }
}

/** Whitespace as the regular expression \s sees it (ECMAScript WhiteSpace and LineTerminator). */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 160) return false;
  return c === 160 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * Words in a text: whitespace-separated runs, not counting runs made only of placeholders (unknown text).
 * A loop rather than a split: a dashboard push computes this for every student's document.
 */
export function wordCount(text: string, padding = PLACEHOLDER): number {
  const placeholder = padding.charCodeAt(0);
  let n = 0;
  let known = false; // the current run has a character that is not a placeholder
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      if (known) n++;
      known = false;
    } else if (c !== placeholder) known = true;
  }
  return known ? n + 1 : n;
}
