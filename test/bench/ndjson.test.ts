// The NDJSON reader against a naive split-and-parse, at read sizes that put every line boundary, blank line
// and multi-byte character across block boundaries (the reader splits raw bytes, so this is where it could
// go wrong).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNdjson, unwrap, type NdjsonLine } from '../../engine/ndjson.js';

function naive(text: string): NdjsonLine[] {
  const out: NdjsonLine[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(l) });
    } catch {
      out.push({ line: i + 1, error: 'x' });
    }
  });
  return out;
}

async function read(file: string, chunk: number, block: number): Promise<{ lines: NdjsonLine[]; sizes: number[] }> {
  const lines: NdjsonLine[] = [];
  const sizes: number[] = [];
  for await (const b of readNdjson(file, chunk, block)) {
    sizes.push(b.length);
    lines.push(...b);
  }
  return { lines, sizes };
}

const text = [
  '{"stream":"extension","event":{"event":"keystroke","k":"é"}}',
  '',
  '{"a":"日本語 ✓ 🙂","n":[1,2,3]}',
  '   ',
  'not json',
  '{"b":"\\u00e9"}\r',
  '{"stream":"x","event":{},"extra":1}',
  '[1,2]',
  '"🙂🙂🙂"',
].join('\n');

describe('readNdjson', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-ndjson-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, body] of [
    ['with a final newline', text + '\n'],
    ['without a final newline', text],
    ['starting with blank lines', '\n\n' + text + '\n\n'],
  ] as const) {
    it(`parses every line like a naive split, ${name}, at every block size`, async () => {
      const file = join(dir, `${name}.ndjson`);
      writeFileSync(file, body);
      const expected = naive(body).map((l) => ({ line: l.line, value: l.value, bad: l.error !== undefined }));
      for (const block of [1, 2, 3, 5, 7, 16, 64, 1 << 20]) {
        const { lines } = await read(file, 3, block);
        expect(lines.map((l) => ({ line: l.line, value: l.value, bad: l.error !== undefined })), `block ${block}`).toEqual(expected);
      }
    });
  }

  it('names the line of a bad line in its error', async () => {
    const file = join(dir, 'bad.ndjson');
    writeFileSync(file, '{}\n{oops\n');
    const { lines } = await read(file, 10, 4);
    expect(lines[1].error).toMatch(/^line 2: not JSON/);
  });

  it('hands out batches of the size asked for, the last one possibly smaller', async () => {
    const file = join(dir, 'many.ndjson');
    writeFileSync(file, Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i })).join('\n') + '\n');
    const { lines, sizes } = await read(file, 64, 1000);
    expect(lines.map((l) => (l.value as { i: number }).i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(sizes.slice(0, -1).every((s) => s === 64)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
  });
});

describe('unwrap', () => {
  it('takes {stream, event} with exactly those two keys as an envelope, anything else as a bare event', () => {
    expect(unwrap({ stream: 's', event: { a: 1 } }, 'd')).toEqual({ stream: 's', event: { a: 1 } });
    expect(unwrap({ stream: 's', event: { a: 1 }, x: 1 }, 'd')).toEqual({ stream: 'd', event: { stream: 's', event: { a: 1 }, x: 1 } });
    expect(unwrap({ stream: 's' }, 'd')).toEqual({ stream: 'd', event: { stream: 's' } });
    expect(unwrap([1], 'd')).toEqual({ stream: 'd', event: [1] });
  });
});
