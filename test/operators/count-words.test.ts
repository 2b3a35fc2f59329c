// reconstruct_text's word count (a loop, for dashboard pushes) against the split it replaced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PLACEHOLDER, wordCount } from '../../operators/gdocs.js';

const bySplit = (t: string) => t.split(/\s+/).filter((w) => w.length > 0 && w.replaceAll(PLACEHOLDER, '').length > 0).length;
// Every character \s matches, plus near misses (U+0085, U+180E, U+200B), word characters and the placeholder.
const spaces = [...Array(0x10000).keys()].map((c) => String.fromCharCode(c)).filter((c) => /\s/.test(c));
const chars = [...spaces, '\u0085', '\u180e', '\u200b', 'a', 'Z', 'é', '日', '🙂', '.', '-', '0', PLACEHOLDER, PLACEHOLDER];

describe('wordCount', () => {
  it('counts like split(/\\s+/) without placeholder-only runs, on strings of every whitespace and word character', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (cs) => {
        expect(wordCount(cs.join(''))).toBe(bySplit(cs.join('')));
      }),
      { numRuns: 2000 },
    );
  });
  it('handles the edges', () => {
    expect(wordCount('')).toBe(0);
    expect(wordCount('   ')).toBe(0);
    expect(wordCount('one')).toBe(1);
    expect(wordCount(' two  words\n')).toBe(2);
    expect(wordCount(`${PLACEHOLDER.repeat(3)} known ${PLACEHOLDER}x`)).toBe(2);
  });
});
