// A custom operator: the longest word a student has typed, from keystroke events.
// Use it in a pipeline as `op: ./operators/longest-word.ts`. It works copied to any folder: the import is
// types only (erased when loaded), and gives an editor loflow's types when loflow is installed.
import type { Operator } from 'loflow/operator';

interface State {
  longest: string;
  current: string;
}

export default {
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
} satisfies Operator<State, { field: string }>;
