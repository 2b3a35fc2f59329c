// A deterministic synthetic classroom: N students typing in Google Docs, in the shapes the Writing Observer
// extension really sends (see README "Event time" and test/fixtures/extension/): each key is three
// `keystroke` events (keydown, keypress for printable keys, keyup) wrapped with the page's `object`
// (document id in object.id); `google_docs_save` {doc_id, tab_id, url, bundles, rev, timestamp} with
// is/ds/mlti commands; `document_loaded` and `document_history` (a changelog) when a page opens;
// `visibility` and `attention` around page switches. Like the extension, no event has a top-level `ts`:
// every event carries lo_event's `metadata.iso_ts` (the client's wall clock when it was logged), saves
// also `timestamp`, DOM events their page-relative `timeStamp`. Same seed -> same events, byte for byte.
import type { LoEvent } from './types.js';

export interface ClassroomOptions {
  /** Number of students (ids s-0000, s-0001, ... as in pipelines/rosters/demo.csv). */
  students?: number;
  /** Documents per student. */
  documents?: number;
  seed?: number;
  /** Event time of the first event (ms since the epoch). */
  start?: number;
  /** Source stream name the events are for. */
  stream?: string;
  /** Keys typed per google_docs_save (the extension batches edits). */
  saveEvery?: number;
  /** Kept for compatibility: texts are always tracked now (document_history needs them). */
  trackText?: boolean;
}

export interface GeneratedEvent {
  stream: string;
  event: LoEvent;
}

/** mulberry32: small, fast, good enough for simulation, and deterministic across platforms. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function studentId(i: number): string {
  return `s-${String(i).padStart(4, '0')}`;
}

/**
 * The client time of an event as loflow's demo pipeline reads it (`time: $.ts ?? $.metadata.iso_ts`): a
 * top-level `ts` (tools other than the extension), else lo_event's `metadata.iso_ts`; undefined if neither.
 */
export function clientTime(e: LoEvent): number | undefined {
  if (typeof e.ts === 'number') return e.ts;
  const iso = e.metadata?.iso_ts;
  return typeof iso === 'string' ? Date.parse(iso) : undefined;
}

interface Student {
  id: string;
  next: number; // event time of its next action
  doc: number; // current document index
  texts: string[];
  /** When each document's page was loaded (its DOM events' timeStamp counts from there); -1: never. */
  loadedAt: number[];
  pending: Array<Record<string, unknown>>; // edit commands not yet saved
  rev: number;
  typed: number;
}

const WORDS = 'the a learning student writes essay about science history because evidence shows that our class'.split(' ');
const SOURCE = 'org.mitros.writing_analytics';
const VERSION = '1.0';
const OBJECT_TYPE = 'http://schema.learning-observer.org/writing-observer/';

/** A key's KeyboardEvent fields as the extension selects them (printable keys have a keypress). */
function keyFields(key: string): { code: string; keyCode: number; charCode: number; printable: boolean } {
  if (key === 'Backspace') return { code: 'Backspace', keyCode: 8, charCode: 0, printable: false };
  if (key === ' ') return { code: 'Space', keyCode: 32, charCode: 32, printable: true };
  const upper = key.toUpperCase();
  return { code: /[a-z]/i.test(key) ? `Key${upper}` : 'Unidentified', keyCode: upper.charCodeAt(0), charCode: key.charCodeAt(0), printable: true };
}

export class Classroom {
  readonly stream: string;
  private readonly random: () => number;
  private readonly students: Student[] = [];
  /** Binary min-heap of student indices by `next` time. */
  private readonly heap: number[] = [];
  private readonly saveEvery: number;
  private readonly docs: number;
  private out: GeneratedEvent[] = [];

  constructor(opts: ClassroomOptions = {}) {
    const n = opts.students ?? 40;
    this.docs = opts.documents ?? 2;
    this.random = rng(opts.seed ?? 1);
    this.stream = opts.stream ?? 'extension';
    this.saveEvery = opts.saveEvery ?? 5;
    const start = opts.start ?? Date.UTC(2026, 0, 12, 9, 0, 0);
    for (let i = 0; i < n; i++) {
      const s: Student = {
        id: studentId(i),
        next: start + Math.floor(this.random() * 5000),
        doc: 0,
        texts: new Array(this.docs).fill(''),
        loadedAt: new Array(this.docs).fill(-1),
        pending: [],
        rev: 0,
        typed: 0,
      };
      this.students.push(s);
      this.heapPush(i);
    }
  }

  /** The next `count` events: each student's in time order, students interleaved by the start of each action (so a key's keyup, up to 70 ms after its keydown, may come before another student's earlier keydown). */
  *events(count = Infinity): Generator<GeneratedEvent> {
    let produced = 0;
    while (produced < count) {
      this.step();
      const out = this.out;
      this.out = [];
      for (let i = 0; i < out.length && produced < count; i++, produced++) yield out[i];
    }
  }

  /** Save every student's pending edits now (the end of a recording); returns those save events. */
  finish(): GeneratedEvent[] {
    for (const s of this.students) this.flushSave(s, s.next);
    const out = this.out;
    this.out = [];
    return out;
  }

  /** The text of a student's document. */
  text(student: number, doc: number): string | undefined {
    return this.students[student].texts[doc];
  }

  docId(student: Student | number, doc: number): string {
    const id = typeof student === 'number' ? studentId(student) : student.id;
    return `doc-${id}-${doc}`;
  }

  private push(event: LoEvent): void {
    this.out.push({ stream: this.stream, event });
  }

  /** What the server keeps of a content-script event: lock fields (source, version), auth, the page wrapper. */
  private pageEvent(s: Student, t: number, type: string, body: Record<string, unknown>, frameindex: string): LoEvent {
    const docId = this.docId(s, s.doc);
    return {
      event_type: type,
      ...body,
      frameindex,
      object: { type: OBJECT_TYPE, title: `Essay ${s.doc + 1}`, id: docId, tab_id: null, url: `https://docs.google.com/document/d/${docId}/edit` },
      event: type,
      readyState: 'complete',
      wa_source: 'client_page',
      metadata: { iso_ts: new Date(t).toISOString() },
      source: SOURCE,
      version: VERSION,
      auth: { user_id: s.id },
    };
  }

  /** A DOM event's page-relative high-resolution time (ms since the page loaded, with a fraction). */
  private timeStamp(s: Student, t: number): number {
    return t - s.loadedAt[s.doc] + Math.floor(this.random() * 10) / 10;
  }

  private step(): void {
    const i = this.heapPop();
    const s = this.students[i];
    if (s.loadedAt[s.doc] < 0) this.openPage(s);
    const r = this.random();
    if (r < 0.004) {
      // Switch to another document's tab: focus leaves and the page hides, the other page shows.
      this.flushSave(s, s.next);
      this.attention(s, s.next, 'focusout');
      this.visibility(s, s.next + 1);
      s.doc = (s.doc + 1) % this.docs;
      s.next += 500 + Math.floor(this.random() * 3000);
      // A page seen before shows again, or (half the time) is reloaded: its history then rebuilds its text.
      if (s.loadedAt[s.doc] < 0 || this.random() < 0.5) this.openPage(s);
      else this.visibility(s, s.next);
      this.attention(s, s.next + 1, 'focusin');
    } else {
      this.keystroke(s);
    }
    // Typing rhythm: mostly 80-300 ms between keys, pauses of 2-8 s between bursts, rare long idle gaps.
    const p = this.random();
    const gap = p < 0.9 ? 80 + this.random() * 220 : p < 0.995 ? 2000 + this.random() * 6000 : 60_000 + this.random() * 400_000;
    s.next += Math.floor(gap);
    this.heapPush(i);
  }

  /** A page opens: document_loaded (its partial text) and document_history (the changelog so far). */
  private openPage(s: Student): void {
    const t = s.next;
    s.loadedAt[s.doc] = t - 1500; // the load event fires a while after navigation starts
    const text = s.texts[s.doc];
    this.push(this.pageEvent(s, t, 'document_loaded', { partial_text: text + '\n' }, '1'));
    // The revisions endpoint's changelog: [command, time, user, revision, session, session revision, ...].
    const changelog = text ? [[{ ty: 'is', ibi: 1, s: text }, t - 60_000, `u-${s.id}`, s.rev, `sid-${s.id}`, 1, null, null]] : [];
    this.push(this.pageEvent(s, t + 400, 'document_history', { history: { changelog } }, '1'));
    s.next = t + 401;
  }

  private visibility(s: Student, t: number): void {
    this.push(this.pageEvent(s, t, 'visibility', { visibility: { target: {}, bubbles: false, cancelable: false, isTrusted: true, timeStamp: this.timeStamp(s, t), type: 'visibilitychange' } }, '1'));
  }

  private attention(s: Student, t: number, type: 'focusin' | 'focusout'): void {
    this.push(
      this.pageEvent(s, t, 'attention', {
        attention: {
          bubbles: true, cancelable: false, isTrusted: true, timeStamp: this.timeStamp(s, t),
          'target.className': 'docs-texteventtarget-iframe', 'target.id': '', 'target.nodeType': 1, 'target.localName': 'iframe', type,
        },
      }, '1'),
    );
  }

  private keystroke(s: Student): void {
    const text = s.texts[s.doc];
    const len = text.length;
    const backspace = len > 0 && this.random() < 0.12;
    let key: string;
    if (backspace) {
      key = 'Backspace';
      s.pending.push({ ty: 'ds', si: len, ei: len }); // delete the last character (1-based index `len`)
      s.texts[s.doc] = text.slice(0, -1);
    } else {
      // Mostly append; sometimes insert a character inside the text (a revision).
      const word = WORDS[s.typed % WORDS.length];
      const ch = s.typed % 7 === 6 ? ' ' : word[s.typed % word.length];
      key = ch;
      const pos = len > 10 && this.random() < 0.05 ? 1 + Math.floor(this.random() * len) : len + 1;
      s.pending.push({ ty: 'is', ibi: pos, s: ch });
      s.texts[s.doc] = text.slice(0, pos - 1) + ch + text.slice(pos - 1);
      s.typed++;
    }
    const t = s.next;
    const f = keyFields(key);
    const up = t + 30 + Math.floor(this.random() * 40); // keyup before the next key (gaps are 80 ms or more)
    const types: Array<[string, number]> = f.printable ? [['keydown', t], ['keypress', t + 1], ['keyup', up]] : [['keydown', t], ['keyup', up]];
    for (const [type, at] of types) {
      const press = type === 'keypress';
      this.push(
        this.pageEvent(s, at, 'keystroke', {
          keystroke: {
            altKey: false, charCode: press ? f.charCode : 0, code: f.code, ctrlKey: false, isComposing: false, isTrusted: true,
            key, keyCode: press ? f.charCode : f.keyCode, location: 0, metaKey: false, repeat: false, shiftKey: false,
            'target.className': 'docs-texteventtarget-descendant', 'target.id': '', 'target.nodeType': 1, 'target.localName': 'div',
            timeStamp: this.timeStamp(s, at), type, which: press ? f.charCode : f.keyCode,
          },
        }, '0'),
      );
    }
    if (s.pending.length >= this.saveEvery) this.flushSave(s, up + 1);
  }

  /** A Docs /save request as the background page logs it (rev is the form field: a list of strings). */
  private flushSave(s: Student, t: number): void {
    if (s.pending.length === 0) return;
    const commands = s.pending.length === 1 ? s.pending : [{ ty: 'mlti', mts: s.pending }];
    s.pending = [];
    s.rev++;
    const docId = this.docId(s, s.doc);
    this.push({
      doc_id: docId,
      tab_id: null,
      url: `https://docs.google.com/document/d/${docId}/save?id=${docId}&sid=sid-${s.id}&vc=1&c=1&w=1&smv=2&token=tok&includes_info_params=true`,
      bundles: [{ commands, sid: `sid-${s.id}`, reqId: s.rev }],
      rev: [String(s.rev)],
      timestamp: t,
      event: 'google_docs_save',
      metadata: { iso_ts: new Date(t).toISOString() },
      source: SOURCE,
      version: VERSION,
      auth: { user_id: s.id },
    });
  }

  private heapPush(i: number): void {
    const h = this.heap;
    h.push(i);
    let c = h.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (this.less(h[c], h[p])) {
        [h[c], h[p]] = [h[p], h[c]];
        c = p;
      } else break;
    }
  }

  private heapPop(): number {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        const r = l + 1;
        let m = c;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === c) break;
        [h[c], h[m]] = [h[m], h[c]];
        c = m;
      }
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    const x = this.students[a].next;
    const y = this.students[b].next;
    return x < y || (x === y && a < b);
  }
}

/** Write a roster CSV (student,class,teacher,name) for `students` students over `classes` classes. */
export function rosterCsv(students: number, classes: number): string {
  const lines = ['student,class,teacher,name'];
  for (let i = 0; i < students; i++) {
    const c = i % classes;
    lines.push(`${studentId(i)},class-${String.fromCharCode(97 + (c % 26))}${c >= 26 ? Math.floor(c / 26) : ''},t-${c},Student ${i}`);
  }
  return lines.join('\n') + '\n';
}
