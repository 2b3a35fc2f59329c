import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileExpression, compileFilter, compileSimpleFilter } from '../../engine/expression.js';

/** The general CEL path, bypassing the fast path. */
function celFilter(src: string) {
  const c = compileExpression(src);
  if (!c.ok) throw new Error(c.message);
  return (o: Record<string, any>) => {
    try {
      return c.fn(o) === true;
    } catch {
      return false;
    }
  };
}

describe('expressions', () => {
  it('evaluate CEL over the event’s fields, with `_` for the whole event', () => {
    const f = compileFilter("has(_.doc_id) && doc_id.startsWith('doc-') && keystroke.key != 'Backspace'");
    expect(f.ok).toBe(true);
    if (!f.ok) return;
    expect(f.fn({ doc_id: 'doc-1', keystroke: { key: 'a' } })).toBe(true);
    expect(f.fn({ doc_id: 'x-1', keystroke: { key: 'a' } })).toBe(false);
    expect(f.fn({ keystroke: { key: 'a' } })).toBe(false); // missing field: false, not a crash
    const m = compileExpression('size(keystroke.key) + 1');
    expect(m.ok && m.fn({ keystroke: { key: 'abc' } })).toBe(4); // CEL ints become JSON numbers
  });

  it('read the object’s fields in place: `_` is the object, a missing field is an error, the object is unchanged', () => {
    // The dashboard's summary filter over rows (`active_students: { where: "!idle" }`).
    const idle = compileExpression('!idle');
    expect(idle.ok).toBe(true);
    if (!idle.ok) return;
    const row = { member: 's-1', idle: false };
    expect(idle.fn(row)).toBe(true);
    expect(idle.fn({ member: 's-2', idle: true })).toBe(false);
    expect(() => idle.fn({ member: 's-3' })).toThrow(/Unknown variable: idle/);
    expect(row).toEqual({ member: 's-1', idle: false });
    expect(Object.keys(row)).toEqual(['member', 'idle']);
    // `_` is the whole object even when it has a field named `_`; arrays and null are objects too.
    const whole = compileExpression('_.member');
    expect(whole.ok && whole.fn({ member: 's-1', _: { member: 'inner' } })).toBe('s-1');
    const size = compileExpression('size(_)');
    expect(size.ok && size.fn([1, 2, 3] as any)).toBe(3);
    const missing = compileExpression('x == 1');
    expect(missing.ok).toBe(true);
    if (missing.ok) for (const o of [null, undefined]) expect(() => missing.fn(o as any)).toThrow(/Unknown variable/);
    // Not an object: refused (a filter over it is false), as before.
    const any = compileFilter('length == 1 || true');
    expect(any.ok && any.fn('x' as any)).toBe(false);
  });

  it('report a syntax error with its offset', () => {
    expect(compileExpression("event == 'a' &&")).toMatchObject({ ok: false, message: expect.stringMatching(/^bad expression/), offset: 15 });
  });

  it('have no way out to the process', () => {
    for (const src of ["process.exit(1) == 1", "constructor.constructor('return process')() == 1"]) {
      const f = compileFilter(src);
      if (f.ok) expect(f.fn({ event: 'x' })).toBe(false);
      else expect(f.message).toMatch(/bad expression/);
    }
  });

  it('the fast path agrees with CEL on every event (property)', () => {
    const value = fc.oneof(fc.constantFrom('keystroke', 'google_docs_save', 'a', ''), fc.integer(), fc.constant(null), fc.constant(undefined));
    const event = fc.record({ event: value, kind: value, nested: fc.option(fc.record({ k: value }), { nil: undefined }) }, { requiredKeys: [] });
    const term = fc.tuple(fc.constantFrom('event', 'kind', 'nested.k'), fc.constantFrom('==', '!='), fc.constantFrom('keystroke', 'a', ''));
    const expr = fc.tuple(fc.array(term, { minLength: 1, maxLength: 3 }), fc.constantFrom('||', '&&')).map(([terms, op]) => terms.map(([f, o, l]) => `${f} ${o} '${l}'`).join(` ${op} `));
    fc.assert(
      fc.property(expr, fc.array(event, { minLength: 1, maxLength: 10 }), (src, events) => {
        const fast = compileSimpleFilter(src);
        expect(fast).toBeDefined();
        const cel = celFilter(src);
        for (const e of events) {
          const clean = JSON.parse(JSON.stringify(e));
          expect(fast!(clean)).toBe(cel(clean));
        }
      }),
      { numRuns: 300 },
    );
  });
});
