// Google Docs edit commands (operators/gdocs.ts) and reconstruct_text, checked against the semantics and the
// examples of /work/shared/lo-protocol.md, ArgLab's docs/events.md and Learning Observer's reconstruct_doc.py.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LoEvent, ReduceContext } from '../../engine/types.js';
import { applyCommands, PLACEHOLDER, wordCount } from '../../operators/gdocs.js';
import { reconstructText, type TextState } from '../../operators/reconstruct-text.js';
import { revisions } from '../../operators/revisions.js';

const P = PLACEHOLDER;
const apply = (text: string, ...commands: unknown[]) => applyCommands({ text, tabs: {} }, commands);
const save = (...commands: unknown[]): LoEvent => ({ event: 'google_docs_save', bundles: [{ commands, sid: 'x', reqId: 1 }] });
const ctx: ReduceContext = { key: 'k', time: 0, emit() {}, late() {} };
const params = reconstructText.prepare!({ include_text: true });

function rebuild(events: LoEvent[]) {
  let s = reconstructText.init(params);
  for (const e of events) s = reconstructText.reduce(s, e, ctx, params);
  return { state: s, view: reconstructText.view!(s, params, 0) as Record<string, any> };
}

describe('Google Docs commands (1-based indices, inclusive deletes)', () => {
  it('is: inserts s so that it starts at ibi', () => {
    expect(apply('', { ty: 'is', ibi: 1, s: 'Hello' }).doc.text).toBe('Hello');
    expect(apply('Hello', { ty: 'is', ibi: 6, s: '!' }).doc.text).toBe('Hello!'); // at the end: ibi = length + 1
    expect(apply('Hllo', { ty: 'is', ibi: 2, s: 'e' }).doc.text).toBe('Hello');
    expect(apply('ello', { ty: 'is', ibi: 1, s: 'H' }).doc.text).toBe('Hello');
  });

  it('ds: deletes si..ei with both ends included', () => {
    expect(apply('Hello', { ty: 'ds', si: 1, ei: 1 }).doc.text).toBe('ello');
    expect(apply('Hello', { ty: 'ds', si: 5, ei: 5 }).doc.text).toBe('Hell');
    expect(apply('Hello world', { ty: 'ds', si: 6, ei: 11 }).doc.text).toBe('Hello');
    expect(apply('Hello', { ty: 'ds', si: 1, ei: 5 }).doc.text).toBe('');
  });

  it('indices count UTF-16 code units, as the JavaScript editor does', () => {
    // '😀' is two code units: the 'b' after it is at index 4.
    expect(apply('a😀c', { ty: 'ds', si: 2, ei: 3 }).doc.text).toBe('ac');
    expect(apply('a😀c', { ty: 'is', ibi: 4, s: 'b' }).doc.text).toBe('a😀bc');
  });

  it('mlti: applies its commands in order, nested lists included', () => {
    const r = apply('Hello world', {
      ty: 'mlti',
      mts: [{ ty: 'ds', si: 6, ei: 11 }, { ty: 'mlti', mts: [{ ty: 'is', ibi: 6, s: ', there' }, { ty: 'is', ibi: 1, s: '> ' }] }],
    });
    expect(r.doc.text).toBe('> Hello, there');
  });

  it('rplc / rvrt: each snapshot `is` entry overwrites its own length at ibi, or `sl` characters when given', () => {
    // A document made from a template: the first edit writes the template text.
    expect(apply('', { ty: 'rplc', snapshot: [{ ty: 'is', ibi: 1, s: 'Title\nBody\n' }, { ty: 'as', st: 'text', si: 1, ei: 5, sm: {} }] }).doc.text).toBe('Title\nBody\n');
    // A range: 'quick' (5 characters at 5) becomes 'QUICK'; the rest stays.
    expect(apply('The quick fox', { ty: 'rvrt', snapshot: [{ ty: 'is', ibi: 5, s: 'QUICK' }] }).doc.text).toBe('The QUICK fox');
    // sl says how many characters the entry replaces: the whole text here (an undo that shortened it).
    expect(apply('The quick brown fox', { ty: 'rvrt', snapshot: [{ ty: 'is', ibi: 1, s: 'The fox', sl: 19 }] }).doc.text).toBe('The fox');
    // sl: 0 inserts.
    expect(apply('The fox', { ty: 'rvrt', snapshot: [{ ty: 'is', ibi: 5, s: 'red ', sl: 0 }] }).doc.text).toBe('The red fox');
    // Several entries apply in order; a snapshot wrapped in a further list is read the same.
    expect(apply('abc', { ty: 'rplc', snapshot: [[{ ty: 'is', ibi: 1, s: 'X' }, { ty: 'is', ibi: 3, s: 'Z' }]] }).doc.text).toBe('XbZ');
  });

  it('nm: applies nmc to the tab named by the last `t.` entry of nmr, else to the main text', () => {
    const r = applyCommands({ text: 'main', tabs: {} }, [
      { ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'Tab one' }, nmr: ['x', 't.abc'] },
      { ty: 'nm', nmc: { ty: 'mlti', mts: [{ ty: 'ds', si: 1, ei: 3 }, { ty: 'is', ibi: 1, s: 'Tab' }] }, nmr: ['t.abc'] },
      { ty: 'nm', nmc: { ty: 'is', ibi: 5, s: ' text' }, nmr: [] },
      { ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'second' }, nmr: ['t.0', 'kix.1', 't.xyz', 'p'] },
    ]);
    expect(r.doc).toEqual({ text: 'main text', tabs: { 't.abc': 'Tab one', 't.xyz': 'second' } });
  });

  it('formatting, suggestions, images and tab titles leave the text as it was (ArgLab examples)', () => {
    const text = 'Points scored';
    const others = [
      { ty: 'as', st: 'paragraph', si: 17, ei: 17, sm: { ps_ls: 1, ps_lslm: 1, ps_ls_i: false, ps_lslm_i: false } },
      { ty: 'ae', et: 'inline', id: 'kix.k7hljq20dbwr', epm: { ee_eo: { i_wth: 468, i_ht: 289 } } },
      { ty: 'te', id: 'kix.k7hljq20dbwr', spi: 196 },
      { ty: 'de', id: 'kix.k7hljq20dbwr' },
      { ty: 'ue', id: 'kix.k7hljq20dbwr', epm: { ee_eo: { i_wth: 323.625 } } },
      { ty: 'iss', ibi: 1, s: 'suggested', sugid: 'suggest.1' },
      { ty: 'dss', si: 1, ei: 6, sugid: 'suggest.2' },
      { ty: 'msfd', si: 1, ei: 2 },
      { ty: 'sas', si: 1, ei: 2 },
      { ty: 'null' },
      { ty: 'ucp', id: 't.0', cpm: {} },
    ];
    expect(apply(text, ...others)).toEqual({ doc: { text, tabs: {} }, padded: 0 });
  });
});

describe('edits beyond the known text (logging began mid-document)', () => {
  it("pads before an insert and counts the padding: LO's example, 'a' inserted at 10", () => {
    expect(apply('', { ty: 'is', ibi: 10, s: 'a' })).toEqual({ doc: { text: `${P.repeat(9)}a`, tabs: {} }, padded: 9 });
  });
  it("pads the ArgLab save example (is 'oidj' at 65) and then its delete example (ds 196..196)", () => {
    const r = rebuild([
      { ...save({ ty: 'is', ibi: 65, s: 'oidj' }), doc_id: '1aV-wHLpITbSLEiTTOfX68W1GGnZKmiAWvlFeHR9JDcA', rev: ['620'], ts: 1696696860523 },
      save({ ty: 'ds', si: 196, ei: 196 }),
    ]);
    // 64 + 4 = 68 known; the delete reaches 196, so 128 more are padded and the 196th is deleted.
    expect(r.view).toMatchObject({ length: 195, padded: 64 + 128, edits: 2, words: 1 });
    expect(r.view.text).toBe(`${P.repeat(64)}oidj${P.repeat(127)}`);
  });
  it('pads a delete range that starts beyond the end only up to ei', () => {
    expect(apply('abc', { ty: 'ds', si: 6, ei: 7 })).toEqual({ doc: { text: `abc${P.repeat(2)}`, tabs: {} }, padded: 4 });
  });
  it('pads a snapshot entry beyond the end', () => {
    expect(apply('ab', { ty: 'rplc', snapshot: [{ ty: 'is', ibi: 5, s: 'x' }] })).toEqual({ doc: { text: `ab${P.repeat(2)}x`, tabs: {} }, padded: 2 });
  });
  it('does not count runs of placeholders as words, but counts a word whose start is unknown', () => {
    expect(wordCount(`${P.repeat(5)} hello ${P.repeat(3)}lo  world`)).toBe(3);
  });
});

describe('reconstruct_text', () => {
  it('continues saves from the current text; document_history rebuilds from its changelog alone', () => {
    const history = {
      event: 'document_history',
      history: { changelog: [[{ ty: 'is', ibi: 1, s: 'Draft one' }, 1696696860000, 'user', 1], [{ ty: 'ds', si: 7, ei: 9 }, 1696696860100, 'user', 2], [{ ty: 'is', ibi: 7, s: 'two' }, 1, 'u', 3]] },
    };
    const r = rebuild([save({ ty: 'is', ibi: 5, s: 'stale' }), history, save({ ty: 'is', ibi: 10, s: '!' })]);
    expect(r.view).toEqual({ length: 10, words: 2, padded: 0, edits: 3, text: 'Draft two!' });
  });

  it('applies the bundles of one save in order', () => {
    const e = { event: 'google_docs_save', bundles: [{ commands: [{ ty: 'is', ibi: 1, s: 'ab' }] }, { commands: [{ ty: 'is', ibi: 3, s: 'c' }, { ty: 'ds', si: 1, ei: 1 }] }] };
    expect(rebuild([e]).view.text).toBe('bc');
  });

  it('shows tabs separately and counts length and words over all of them', () => {
    const r = rebuild([save({ ty: 'is', ibi: 1, s: 'Intro text' }), save({ ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'Notes here too' }, nmr: ['t.notes'] })]);
    expect(r.view).toEqual({ length: 24, words: 5, padded: 0, edits: 2, text: 'Intro text', tabs: { 't.notes': { length: 14, words: 3, text: 'Notes here too' } } });
    const bare = reconstructText.view!(r.state, reconstructText.prepare!({}), 0);
    expect(bare).toEqual({ length: 24, words: 5, padded: 0, edits: 2, tabs: { 't.notes': { length: 14, words: 3 } } });
  });

  it('reads a state stored before tabs existed (no tabs field)', () => {
    const old = { text: 'abc', padded: 0, edits: 1 } as unknown as TextState;
    const s = reconstructText.reduce(old, save({ ty: 'is', ibi: 4, s: 'd' }), ctx, params);
    expect(reconstructText.view!(s, params, 0)).toEqual({ length: 4, words: 1, padded: 0, edits: 2, text: 'abcd' });
  });

  it('rejects a malformed command with a clear error for that event only; the state (tabs too) stays as it was', () => {
    const { state } = rebuild([save({ ty: 'is', ibi: 1, s: 'abc' }), save({ ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'tab' }, nmr: ['t.1'] })]);
    const before = structuredClone(state);
    const bad: Array<[LoEvent, RegExp]> = [
      [save({ ty: 'ds', si: 3, ei: 1 }), /'ds' command has si 3 > ei 1/],
      [save({ ty: 'is', s: 'x' }), /'is' command needs ibi as an integer >= 1 \(got undefined\)/],
      [save({ ty: 'is', ibi: 0, s: 'x' }), /needs ibi as an integer >= 1 \(got 0\)/],
      [save({ ty: 'is', ibi: 1.5, s: 'x' }), /needs ibi as an integer/],
      [save({ ty: 'is', ibi: 1, s: 5 }), /'is' command needs s as a string/],
      [save({ ty: 'ds', si: '1', ei: 2 }), /'ds' command needs si/],
      [save({ ty: 'mlti', mts: {} }), /'mlti' command needs mts as a list/],
      [save({ ty: 'rvrt' }), /'rvrt' command needs snapshot as a list/],
      [save({ ty: 'rplc', snapshot: [{ ty: 'is', ibi: 1, s: 'x', sl: -1 }] }), /'is' command needs sl as an integer >= 0/],
      [save({ ty: 'rplc', snapshot: ['text'] }), /a 'rplc' snapshot entry must be an object/],
      [save({ ty: 'nm', nmr: ['t.1'] }), /'nm' command needs nmc/],
      [save({ ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'x' }, nmr: 't.1' }), /'nm' command needs nmr as a list/],
      [save({ ty: 'nm', nmc: { ty: 'ds', si: 2, ei: 1 }, nmr: ['t.1'] }), /si 2 > ei 1/],
      [save('is'), /a command must be an object/],
      [save({ ibi: 1, s: 'x' }), /a command needs ty as a string/],
      [{ event: 'google_docs_save' }, /google_docs_save needs bundles as a list/],
      [{ event: 'google_docs_save', bundles: [{}] }, /each bundle needs commands as a list/],
      [{ event: 'document_history', history: {} }, /document_history needs history.changelog as a list/],
      // Good commands before the bad one are not kept either: the event fails as a whole.
      [save({ ty: 'is', ibi: 1, s: 'lost' }, { ty: 'nm', nmc: { ty: 'is', ibi: 1, s: 'lost' }, nmr: ['t.1'] }, { ty: 'ds', si: 2, ei: 1 }), /si 2 > ei 1/],
    ];
    for (const [e, message] of bad) {
      expect(() => reconstructText.reduce(state, e, ctx, params)).toThrow(message);
      expect(state).toEqual(before);
    }
  });

  it('equals a naive character-list model over random valid edits, however they are wrapped (property)', () => {
    const edit = fc.record({ del: fc.boolean(), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }), s: fc.string({ minLength: 1, maxLength: 5 }), wrap: fc.constantFrom('plain', 'mlti', 'nm', 'bundle') });
    fc.assert(
      fc.property(fc.array(fc.array(edit, { maxLength: 6 }), { maxLength: 25 }), (saves) => {
        const model: string[] = [];
        const events = saves.map((edits) => {
          const bundles: Array<{ commands: unknown[] }> = [{ commands: [] }];
          for (const x of edits) {
            let c: Record<string, unknown>;
            if (x.del && model.length > 0) {
              const si = 1 + (x.at % model.length);
              const ei = Math.min(model.length, si + x.n - 1);
              model.splice(si - 1, ei - si + 1);
              c = { ty: 'ds', si, ei };
            } else {
              const ibi = 1 + (x.at % (model.length + 1));
              model.splice(ibi - 1, 0, ...x.s.split(''));
              c = { ty: 'is', ibi, s: x.s };
            }
            if (x.wrap === 'mlti') c = { ty: 'mlti', mts: [c, { ty: 'as', si: 1, ei: 1, st: 'text', sm: {} }] };
            if (x.wrap === 'nm') c = { ty: 'nm', nmc: c, nmr: ['kix.x'] };
            if (x.wrap === 'bundle') bundles.push({ commands: [] });
            bundles[bundles.length - 1].commands.push(c);
          }
          return { event: 'google_docs_save', bundles };
        });
        const { view } = rebuild(events);
        expect(view.text).toBe(model.join(''));
        expect(view.padded).toBe(0);
      }),
    );
  });
});

describe('revisions reads deletions the same way', () => {
  it('counts ds inside mlti and nm, but not in a document_history replay', () => {
    const p = revisions.prepare!({ pause: '2s' });
    let s = revisions.init(p);
    const at = (time: number): ReduceContext => ({ ...ctx, time });
    s = revisions.reduce(s, save({ ty: 'mlti', mts: [{ ty: 'ds', si: 3, ei: 5 }, { ty: 'nm', nmc: { ty: 'ds', si: 1, ei: 1 }, nmr: ['t.1'] }] }), at(0), p);
    s = revisions.reduce(s, { event: 'document_history', history: { changelog: [[{ ty: 'ds', si: 1, ei: 9 }]] } }, at(10_000), p);
    s = revisions.reduce(s, save({ ty: 'nm', nmc: { ty: 'mlti', mts: [{ ty: 'ds', si: 2, ei: 3 }] } }), at(10_500), p);
    expect(revisions.view!(s, p, 0)).toEqual({ revisions: 1, deleted_chars: 6 });
  });
});

describe('reconstruct_text merge: a student’s documents together (what a student|doc row shows)', () => {
  const words = fc.array(fc.constantFrom('a', 'bc', 'def', ' ', '\n'), { maxLength: 12 }).map((p) => p.join(''));
  const doc = (text: string) => rebuild(text ? [save({ ty: 'is', ibi: 1, s: text })] : []).state;

  it('sums length, words, edits and documents, in any grouping (a monoid with init as identity; property)', () => {
    fc.assert(
      fc.property(fc.array(words, { minLength: 1, maxLength: 5 }), (texts) => {
        const states = texts.map(doc);
        const fold = (ss: TextState[]) => ss.reduce((acc, s) => reconstructText.merge!(acc, structuredClone(s), params), reconstructText.init(params));
        const v = reconstructText.view!(fold(states), params, 0) as Record<string, number>;
        const nonEmpty = texts.filter((t) => t !== '');
        expect(v.length).toBe(texts.join('').length);
        expect(v.words).toBe(texts.reduce((n, t) => n + wordCount(t), 0));
        expect(v.documents).toBe(nonEmpty.length);
        expect(v.edits).toBe(nonEmpty.length);
        expect(v).not.toHaveProperty('text'); // a merge has no one text to show
        // Associativity: (a+b)+rest equals a+(b+rest).
        if (states.length >= 2) {
          const right = reconstructText.merge!(structuredClone(states[0]), fold(states.slice(1)), params);
          expect(reconstructText.view!(right, params, 0)).toEqual(v);
        }
      }),
    );
  });

  it('leaves the documents’ own states untouched', () => {
    const a = doc('Hello world');
    const before = structuredClone(a);
    reconstructText.merge!(reconstructText.init(params), a, params);
    expect(a).toEqual(before);
  });
});
