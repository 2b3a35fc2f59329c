// reconstruct_text equals Learning Observer's reconstruct_doc.py on 200 seeded random command streams
// (is, ds, mlti, as, rplc, rvrt, nm, commands that change no text; test/fixtures/reconstruct/regenerate.ts
// made them and ran upstream on them): with `padding: "\u0000"` byte for byte, tabs included (a tab an `nm`
// creates with a command that changes no text is listed, empty); with the default padding once ░ is mapped.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePipeline } from '../../engine/compiler.js';
import { PLACEHOLDER, reconstructText, type TextState } from '../../operators/reconstruct-text.js';

interface Case {
  saves: unknown[][];
  upstream: { text: string; tabs: Record<string, string> };
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/reconstruct/upstream-parity.json'), 'utf8')) as { cases: Case[] };

function run(c: Case, params: Record<string, unknown>): TextState {
  const p = reconstructText.prepare!(params) as any;
  let s = reconstructText.init(p);
  for (const commands of c.saves) s = reconstructText.reduce(s, { event: 'google_docs_save', bundles: [{ commands }] }, {} as any, p);
  return s;
}

describe('reconstruct_text parity with upstream reconstruct_doc.py', () => {
  it('the fixture covers padding, tabs created empty, and every command kind', () => {
    const json = JSON.stringify(fixture.cases.map((c) => c.saves));
    for (const ty of ['is', 'ds', 'mlti', 'as', 'rplc', 'rvrt', 'nm', 'ae']) expect(json).toContain(`"ty":"${ty}"`);
    expect(fixture.cases.filter((c) => c.upstream.text.includes('\u0000')).length).toBeGreaterThan(20);
    expect(fixture.cases.filter((c) => Object.values(c.upstream.tabs).includes('')).length).toBeGreaterThan(10);
  });

  it('with padding "\\u0000": the same text and the same tabs as upstream on every stream', () => {
    for (const [i, c] of fixture.cases.entries()) {
      const s = run(c, { padding: '\u0000' });
      expect({ i, text: s.text, tabs: s.tabs }).toEqual({ i, text: c.upstream.text, tabs: c.upstream.tabs });
    }
  });

  it('with the default padding: upstream once ░ is mapped to \\u0000, and every tab listed in the view', () => {
    for (const [i, c] of fixture.cases.entries()) {
      const s = run(c, {});
      const map = (t: string) => t.replaceAll(PLACEHOLDER, '\u0000');
      expect({ i, text: map(s.text), tabs: Object.fromEntries(Object.entries(s.tabs).map(([k, t]) => [k, map(t)])) }).toEqual({ i, ...c.upstream });
      const view = reconstructText.view!(s, reconstructText.prepare!({})) as any;
      expect(Object.keys(view.tabs ?? {}).sort()).toEqual(Object.keys(c.upstream.tabs).sort());
    }
  });

  it('padding is a pipeline param: one UTF-16 unit, counted as no word', async () => {
    const yaml = (padding: string) => `pipeline: p\nsources: { s: { kind: http } }\nkeys: { d: $.doc_id }\nreducers:\n  t: { from: s, key: d, op: reconstruct_text, params: { padding: ${JSON.stringify(padding)} } }\n`;
    expect((await compilePipeline(yaml('\u0000'))).errors).toEqual([]);
    expect((await compilePipeline(yaml('🙂'))).errors.map((e) => e.message).join()).toMatch(/one UTF-16 code unit/);
    expect((await compilePipeline(yaml('ab'))).errors.length).toBeGreaterThan(0);
    const p = reconstructText.prepare!({ padding: '#' }) as any;
    const s = reconstructText.reduce(reconstructText.init(p), { event: 'google_docs_save', bundles: [{ commands: [{ ty: 'is', ibi: 4, s: 'hi' }] }] }, {} as any, p);
    expect(s.text).toBe('###hi');
    expect(reconstructText.view!(s, p)).toMatchObject({ length: 5, words: 1, padded: 3 });
  });
});
