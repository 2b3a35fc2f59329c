// Finding 10: CEL `matches()` is RE2 (linear time), and Object member names are plain fields (finding 11).
import { describe, expect, it } from 'vitest';
import { compileExpression, compileFilter } from '../../engine/expression.js';
import { compilePipeline } from '../../engine/compiler.js';

function filter(src: string) {
  const f = compileFilter(src);
  if (!f.ok) throw new Error(f.message);
  return f.fn;
}

describe('matches() runs RE2', () => {
  it("'^(a+)+$' on a 30-character non-matching id takes well under 100 ms", () => {
    const f = filter("id.matches('^(a+)+$')");
    const id = 'a'.repeat(30) + '!';
    const t0 = performance.now();
    expect(f({ id })).toBe(false);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(f({ id: 'aaaa' })).toBe(true);
    // Inside a macro too, and with a pattern computed per event (not literal).
    const t1 = performance.now();
    expect(filter("ids.exists(x, x.matches('^(a+)+$'))")({ ids: [id, id, id] })).toBe(false);
    expect(filter('id.matches(p)')({ id, p: '^(a+)+$' })).toBe(false);
    expect(performance.now() - t1).toBeLessThan(100);
  });

  it('still filters: partial match, anchors, RE2 flags', () => {
    const f = filter("doc_id.matches('^doc-[0-9]+$')");
    expect(f({ doc_id: 'doc-12' })).toBe(true);
    expect(f({ doc_id: 'doc-12x' })).toBe(false);
    expect(f({ other: 1 })).toBe(false);
    expect(filter("title.matches('ess')")({ title: 'my essay' })).toBe(true); // CEL matches() is a search
    expect(filter("title.matches('(?i)^ESSAY')")({ title: 'essay 1' })).toBe(true); // RE2 syntax, not JS
    const m = compileExpression("[name.matches('^a'), name.matches('b$')]");
    expect(m.ok && m.fn({ name: 'ab' })).toEqual([true, true]);
  });

  it('a literal pattern that is not RE2 is a compile error naming why', async () => {
    for (const p of ['(a)\\\\1', '(?=a)b', '(?<!x)y']) {
      const f = compileFilter(`name.matches('${p}')`);
      expect(f.ok).toBe(false);
      if (!f.ok) {
        expect(f.message).toMatch(/^bad expression: matches\(\) pattern is not RE2 syntax \(/);
        expect(f.offset).toBe('name.matches('.length);
      }
    }
    const { errors } = await compilePipeline(
      `pipeline: p\nsources: { events: { kind: http, path: /e } }\nkeys: { student: $.sid }\nreducers:\n  n: { from: events, key: student, op: count, where: "name.matches('(a)\\\\\\\\1')" }\n`,
    );
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/matches\(\) pattern is not RE2 syntax/)]);
  });

  it('a pattern computed per event that is not RE2 makes the filter false, not a crash', () => {
    expect(filter('id.matches(p)')({ id: 'aa', p: '(a)\\1' })).toBe(false);
    expect(filter('id.matches(p)')({ id: 'aa', p: 'a' })).toBe(true);
  });
});

describe('Object member names in expressions are fields, never inherited members', () => {
  it('a missing `constructor`/`toString`/`__proto__` field is missing (false), a present one is its value', () => {
    // CEL itself reserves `__proto__` as an identifier: a clear compile error.
    expect(compileFilter("__proto__ == 'x'")).toMatchObject({ ok: false, message: 'bad expression: Reserved identifier: __proto__' });
    for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
      for (const src of [`${name} == 'x'`, `${name} != 'x'`, `${name} != 'x' && kind == 'k'`]) {
        const fast = filter(src); // the fast path
        const cel = filter(`(${src}) == true`); // the same through cel-js
        for (const f of [fast, cel]) {
          expect(f({ kind: 'k' })).toBe(false);
          expect(f(JSON.parse(`{"kind": "k", "${name}": "x"}`))).toBe(src.startsWith(`${name} ==`));
        }
      }
      expect(filter(`has(_.${name})`)({ kind: 'k' })).toBe(false);
    }
  });
});
