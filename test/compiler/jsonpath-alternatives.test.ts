import { describe, expect, it } from 'vitest';
import { alternativesOf, compilePath, copierOf, JsonPathError, parsePath } from '../../engine/jsonpath.js';

describe('JSON path alternatives ($.a ?? $.b)', () => {
  it('reads the first alternative that is neither missing nor null', () => {
    const get = compilePath('$.doc_id ?? $.object.id');
    expect(get({ doc_id: 'd1', object: { id: 'd2' } })).toBe('d1');
    expect(get({ object: { id: 'd2' } })).toBe('d2');
    expect(get({ doc_id: null, object: { id: 'd2' } })).toBe('d2');
    expect(get({ event: 'x' })).toBeUndefined();
  });

  it('does not split inside quoted brackets, and a single path is unchanged', () => {
    expect(alternativesOf("$['a??b'] ?? $.c").map((a) => a.path)).toEqual(["$['a??b']", '$.c']);
    expect(compilePath("$['a??b']")({ 'a??b': 1 })).toBe(1);
    expect(parsePath('$.a.b')).toEqual(['a', 'b']);
    expect(parsePath('$.a ?? $.b.c')).toEqual(['a']);
  });

  it('reports a bad alternative at its column', () => {
    try {
      compilePath('$.a ?? b.c');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(JsonPathError);
      expect((err as JsonPathError).offset).toBe(7);
    }
  });

  it('copies every alternative an event has', () => {
    const to: Record<string, unknown> = {};
    copierOf('$.doc_id ?? $.object.id')({ object: { id: 'd2', title: 't' } }, to);
    expect(to).toEqual({ object: { id: 'd2' } });
  });
});
