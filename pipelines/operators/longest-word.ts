// A custom operator: the longest word a student has typed, from keystroke events.
// Use it in a pipeline as `op: ./operators/longest-word.ts`.
import type { Operator } from '../../engine/types.js';

interface State {
  longest: string;
  current: string;
}

const operator: Operator<State, { field: string }> = {
  name: 'longest_word',
  summary: 'The longest word typed so far.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { field: { type: 'string', description: 'path of the typed character (default $.keystroke.key)' } },
  },
  init: () => ({ longest: '', current: '' }),
  reduce(s, event) {
    const key = event.keystroke?.key;
    if (typeof key !== 'string' || key.length !== 1) return s;
    if (/\s/.test(key)) s.current = '';
    else s.current += key;
    if (s.current.length > s.longest.length) s.longest = s.current;
    return s;
  },
  example: `longest: { from: [extension], key: student, op: ./operators/longest-word.ts }`,
};

export default operator;
