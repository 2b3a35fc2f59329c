// A parse worker's block rewrite (engine/replay/parse-worker.ts): the block's JSON lines become one JSON array
// text in place, which must hold exactly the values of parsing each line, whatever lines surround them.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { LineKind } from '../../engine/replay/block-protocol.js';
import { parseBlock } from '../../engine/replay/parse-worker.js';

const ok = '{"event":"keystroke","auth":{"user_id":"s-0001"},"ts":1}';
const wrapped = `{"stream":"batch","event":${ok}}`;
const refused = '{"no_event":1}';

/** The block as the main thread sends it: a spare byte before and after the lines. */
function block(text: string): { buf: Buffer; length: number } {
  const bytes = Buffer.from(text, 'utf8');
  const buf = Buffer.alloc(bytes.length + 2, 0x7a); // 'z' in the spare bytes: the worker must overwrite them
  bytes.copy(buf, 1);
  return { buf, length: bytes.length };
}

describe('parse worker block rewrite', () => {
  it('turns every mix of lines into one array of the JSON lines, with their line numbers and kinds', async () => {
    const { pipeline } = await compilePipelineFile(join(import.meta.dirname, '../../pipelines/writing-observer.yaml'));
    const cases: Array<{ text: string; lines: number; kinds: number[]; nos: number[] }> = [
      { text: `${ok}\n${wrapped}\n`, lines: 2, kinds: [LineKind.Valid, LineKind.Valid], nos: [1, 2] },
      { text: `${ok}\nnot json\n\n  \t\n`, lines: 4, kinds: [LineKind.Valid, LineKind.NotJson], nos: [1, 2] },
      { text: `\n${refused}\r\n"é✓"\nnot json`, lines: 4, kinds: [LineKind.Refused, LineKind.Refused, LineKind.NotJson], nos: [2, 3, 4] },
      { text: `${ok}`, lines: 1, kinds: [LineKind.Valid], nos: [1] },
      { text: `\n\n`, lines: 2, kinds: [], nos: [] },
      { text: `not json\n{"stream":"nowhere","event":{}}\n`, lines: 2, kinds: [LineKind.NotJson, LineKind.Refused], nos: [1, 2] },
    ];
    for (const c of cases) {
      const { buf, length } = block(c.text);
      const r = parseBlock(buf, length, pipeline!.sources, 'extension');
      expect(r.lines).toBe(c.lines);
      expect([...r.kind]).toEqual(c.kinds);
      expect([...r.lineNo]).toEqual(c.nos);
      expect(r.ascii).toBe(!/[^\x00-\x7f]/.test(c.text));
      const text = Buffer.from(r.bytes, 0, r.length + 2).toString(r.ascii ? 'latin1' : 'utf8');
      const expected = c.text.split('\n').filter((l, i, all) => !(i === all.length - 1 && l === '')).flatMap((l) => {
        try {
          return l.trim() === '' ? [] : [JSON.parse(l)];
        } catch {
          return [];
        }
      });
      expect(JSON.parse(text)).toEqual(expected);
      expect(r.errors.length).toBe(c.kinds.filter((k) => k === LineKind.NotJson).length);
    }
  });
});
