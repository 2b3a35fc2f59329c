// reconstruct_text's word count (a loop, for dashboard pushes) against the split it replaced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countWords } from '../../operators/reconstruct-text.js';

const bySplit = (t: string) => t.split(/\s+/).filter((w) => w.length > 0).length;
// Every character \s matches, plus near misses (U+0085, U+180E, U+200B) and word characters.
const spaces = [...Array(0x10000).keys()].map((c) => String.fromCharCode(c)).filter((c) => /\s/.test(c));
const chars = [...spaces, '\u0085', '\u180e', '\u200b', 'a', 'Z', 'é', '日', '🙂', '.', '-', '0'];

describe('countWords', () => {
  it('counts like split(/\\s+/) on strings of every whitespace character and word characters', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (cs) => {
        expect(countWords(cs.join(''))).toBe(bySplit(cs.join('')));
      }), { numRuns: 2000 });
  });
  it('handles the edges', () => {
    expect(countWords('')).toBe(0);
    expect(countWords('   ')).toBe(0);
    expect(countWords('one')).toBe(1);
    expect(countWords(' two  words\n')).toBe(2);
  });
});
