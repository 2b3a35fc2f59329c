// A deterministic synthetic classroom: N students typing in Google Docs, in Learning Observer's event shapes
// (keystroke, google_docs_save with is/ds/mlti commands, visibility). Same seed -> same events, byte for byte.
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
  /** Keystrokes per google_docs_save (the extension batches edits). */
  saveEvery?: number;
  /** Keep each document's text (for tests of text reconstruction; costs memory). */
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

interface Student {
  id: string;
  next: number; // event time of its next action
  doc: number; // current document index
  lengths: number[]; // document lengths (characters)
  texts?: string[];
  pending: Array<Record<string, unknown>>; // edit commands not yet saved
  rev: number;
  typed: number;
}

const WORDS = 'the a learning student writes essay about science history because evidence shows that our class'.split(' ');

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
        lengths: new Array(this.docs).fill(0),
        pending: [],
        rev: 0,
        typed: 0,
      };
      if (opts.trackText) s.texts = new Array(this.docs).fill('');
      this.students.push(s);
      this.heapPush(i);
    }
  }

  /** The next `count` events in event-time order. */
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
    for (const s of this.students) this.flushSave(s, { source: 'org.mitros.writing_analytics', version: '1.0', auth: { user_id: s.id } });
    const out = this.out;
    this.out = [];
    return out;
  }

  /** The text of a student's document (only with trackText). */
  text(student: number, doc: number): string | undefined {
    return this.students[student].texts?.[doc];
  }

  docId(student: Student | number, doc: number): string {
    const id = typeof student === 'number' ? studentId(student) : student.id;
    return `doc-${id}-${doc}`;
  }

  private step(): void {
    const i = this.heapPop();
    const s = this.students[i];
    const r = this.random();
    const base = { source: 'org.mitros.writing_analytics', version: '1.0', auth: { user_id: s.id } };
    if (r < 0.004) {
      // Switch to another document (a page switch): visibility events around it.
      this.flushSave(s, base);
      this.out.push({ stream: this.stream, event: { ...base, event: 'visibility', ts: s.next, doc_id: this.docId(s, s.doc), visibility: 'hidden' } });
      s.doc = (s.doc + 1) % this.docs;
      s.next += 500 + Math.floor(this.random() * 3000);
      this.out.push({ stream: this.stream, event: { ...base, event: 'visibility', ts: s.next, doc_id: this.docId(s, s.doc), visibility: 'visible' } });
    } else {
      this.keystroke(s, base);
    }
    // Typing rhythm: mostly 80-300 ms between keys, pauses of 2-8 s between bursts, rare long idle gaps.
    const p = this.random();
    const gap = p < 0.9 ? 80 + this.random() * 220 : p < 0.995 ? 2000 + this.random() * 6000 : 60_000 + this.random() * 400_000;
    s.next += Math.floor(gap);
    this.heapPush(i);
  }

  private keystroke(s: Student, base: Record<string, unknown>): void {
    const len = s.lengths[s.doc];
    const backspace = len > 0 && this.random() < 0.12;
    let key: string;
    let pos: number;
    if (backspace) {
      key = 'Backspace';
      pos = len; // delete the last character (1-based index `len`)
      s.pending.push({ ty: 'ds', si: pos, ei: pos });
      s.lengths[s.doc] = len - 1;
      if (s.texts) s.texts[s.doc] = s.texts[s.doc].slice(0, -1);
    } else {
      // Mostly append; sometimes insert a character inside the text (a revision).
      const word = WORDS[s.typed % WORDS.length];
      const ch = s.typed % 7 === 6 ? ' ' : word[s.typed % word.length];
      key = ch;
      pos = len > 10 && this.random() < 0.05 ? 1 + Math.floor(this.random() * len) : len + 1;
      s.pending.push({ ty: 'is', ibi: pos, s: ch });
      s.lengths[s.doc] = len + 1;
      if (s.texts) s.texts[s.doc] = s.texts[s.doc].slice(0, pos - 1) + ch + s.texts[s.doc].slice(pos - 1);
      s.typed++;
    }
    this.out.push({
      stream: this.stream,
      event: {
        source: base.source,
        version: base.version,
        auth: { user_id: s.id },
        event: 'keystroke',
        ts: s.next,
        doc_id: this.docId(s, s.doc),
        keystroke: { key, pos },
      },
    });
    if (s.pending.length >= this.saveEvery) this.flushSave(s, base);
  }

  private flushSave(s: Student, base: Record<string, unknown>): void {
    if (s.pending.length === 0) return;
    const commands = s.pending.length === 1 ? s.pending : [{ ty: 'mlti', mts: s.pending }];
    s.pending = [];
    s.rev++;
    const docId = this.docId(s, s.doc);
    this.out.push({
      stream: this.stream,
      event: {
        ...base,
        event: 'google_docs_save',
        ts: s.next + 1,
        doc_id: docId,
        url: `https://docs.google.com/document/d/${docId}/edit`,
        rev: s.rev,
        timestamp: s.next + 1,
        bundles: [{ commands, sid: `sid-${s.id}`, reqId: s.rev }],
      },
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
