// rewritePaths (a pseudonymized export's per-event rewrite) copies each object once per event instead of
// once per path: its result must be exactly rewritePath's applied path after path, and the input untouched.
import { describe, expect, it } from 'vitest';
import { rewritePath, rewritePaths } from '../../archive/learners.js';

const mark = (v: unknown) => `<${JSON.stringify(v)}>`;

describe('rewritePaths', () => {
  it('gives what rewritePath gives path after path, without changing the event', () => {
    const event = {
      auth: { user_id: 's-1', email: 'a@b.c', keep: 1 },
      object: { id: 'doc-1', url: 'https://x/doc-1', title: 'T', nested: { id: 'n' } },
      bundles: [{ sid: 'x', n: 1 }, { n: 2 }, null, 'str'],
      history: { changelog: [[1, 'a', 's-1', 'b', 'c'], [2, 'd']] },
      map: { a: { v: 1 }, b: { v: 2 } },
      list: [1, 2, 3],
    };
    const before = JSON.stringify(event);
    const rewrites: Array<[string, ((v: unknown) => unknown) | null]> = [
      ['$.object.url', null],
      ['$.list[1]', null],
      ['$.map[*]', null],
      ['$.auth.user_id', mark],
      ['$.auth.email', mark],
      ['$.object.id', mark],
      ['$.object.nested.id', mark],
      ['$.bundles[*].sid', mark],
      ['$.history.changelog[*][2]', mark],
      ['$.history.changelog[*][4]', mark],
      ['$.auth.user_id', mark], // twice: the second sees the first's result
      ['$.missing.path', mark],
    ];
    let expected: unknown = event;
    for (const [p, fn] of rewrites) expected = rewritePath(expected, p, fn);
    expect(rewritePaths(event, rewrites)).toStrictEqual(expected);
    expect(JSON.stringify(event)).toBe(before);
    // The untouched parts are shared, not copied; a path that matches nothing returns the event itself.
    const out = rewritePaths(event, [['$.auth.user_id', mark]]) as typeof event;
    expect(out.object).toBe(event.object);
    expect(rewritePaths(event, [['$.nothing.here', mark]])).toBe(event);
  });
});
