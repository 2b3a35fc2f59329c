// archive/json-cbor.ts writes DAG-CBOR for plain JSON values itself: every byte must be what @ipld/dag-cbor
// writes (same blocks, same CIDs), and whatever is not plain JSON must be left to the generic encoder.
import fc from 'fast-check';
import * as dagCbor from '@ipld/dag-cbor';
import { describe, expect, it } from 'vitest';
import { CID } from '../../archive/blocks.js';
import { pendingEntry } from '../../archive/chunk-bytes.js';
import { encodeJson } from '../../archive/json-cbor.js';
import { Classroom } from '../../engine/classroom.js';

/** Any UTF-16 code unit: lone surrogates, pairs, and characters whose UTF-16 and UTF-8 orders differ. */
const unit = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xffff })).map((c) => String.fromCharCode(c));
const anyString = fc.oneof(fc.string(), fc.string({ unit }), fc.string({ unit: 'binary' }));
const number = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 53) + 1, -(2 ** 53), 1e20, -24, -25, -257, 0.1),
  fc.maxSafeInteger(),
  fc.maxSafeNat().map((n) => -n),
);
const json = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    anyString,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(anyString, tie('v'), { maxKeys: 6 }),
  ),
})).v;

describe('DAG-CBOR of plain JSON', () => {
  it('is byte for byte what @ipld/dag-cbor writes (fuzzed: unicode keys and strings, every number range)', () => {
    fc.assert(
      fc.property(json, (v) => {
        const fast = encodeJson(v);
        expect(fast).toBeDefined(); // plain JSON always takes the fast way
        expect(Buffer.from(fast!).equals(Buffer.from(dagCbor.encode(v)))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('orders map keys as DAG-CBOR does: shorter UTF-8 first, then bytewise (not UTF-16 order)', () => {
    // U+FFFF is 3 UTF-8 bytes and sorts after U+E000; an emoji (a surrogate pair, 4 bytes) is longer; é is 2.
    const v = { '\uffff': 1, '\ue000': 2, '😀': 3, é: 4, ab: 5, b: 6, a: 7, '': 8, '\ud800': 9 };
    expect(Buffer.from(encodeJson(v)!).equals(Buffer.from(dagCbor.encode(v)))).toBe(true);
    expect(Object.keys(dagCbor.decode(encodeJson(v)!) as object)).toEqual(Object.keys(dagCbor.decode(dagCbor.encode(v)) as object));
  });

  it("is the generic encoder's for the extension's events, and stays valid after many more", () => {
    const events = [...new Classroom({ students: 30, seed: 7 }).events(20_000)].map((e) => e.event);
    const first = encodeJson(events[0])!;
    const firstCopy = Buffer.from(first);
    for (const e of events) expect(Buffer.from(encodeJson(e)!).equals(Buffer.from(dagCbor.encode(e)))).toBe(true);
    expect(Buffer.from(first).equals(firstCopy)).toBe(true); // a view into a shared buffer is never written again
    // What the writer keeps per event: its entry, through this encoder.
    const entry = { o: 5, t: 1764000000000, e: events[5], i: 5 };
    expect(Buffer.from(pendingEntry(entry).b).equals(Buffer.from(dagCbor.encode(entry)))).toBe(true);
  });

  it('leaves to the generic encoder what is not plain JSON', () => {
    const deep: unknown[] = [];
    let at = deep;
    for (let i = 0; i < 300; i++) at.push((at = []));
    const withProto = JSON.parse('{"__proto__": 1, "a": 2}') as unknown;
    const cid = CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');
    // eslint-disable-next-line no-sparse-arrays
    for (const v of [{ a: undefined }, [undefined], [1, , 2], { n: NaN }, Infinity, -Infinity, new Date(0), { d: new Date(0) }, cid, { link: cid }, new Uint8Array([1]), withProto, deep, 10n, () => 1, new Map([['a', 1]])]) {
      expect(encodeJson(v)).toBeUndefined();
    }
    // A refusal leaves nothing behind: the next value's bytes are its own.
    expect(Buffer.from(encodeJson({ x: 1 })!).equals(Buffer.from(dagCbor.encode({ x: 1 })))).toBe(true);
  });

  it('keeps map shapes apart: the same keys in another order, another count, and more shapes than it keeps', () => {
    const same = (v: unknown) => expect(Buffer.from(encodeJson(v)!).equals(Buffer.from(dagCbor.encode(v)))).toBe(true);
    // One key set in every order; prefixes of it; a shape whose later key differs.
    const keys = ['event', 'ts', 'auth', 'doc_id', 'é', 'b'];
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < keys.length; i++) {
        const order = [...keys.slice(i), ...keys.slice(0, i)];
        same(Object.fromEntries(order.map((k, j) => [k, j])));
        same(Object.fromEntries(order.slice(0, 3).map((k, j) => [k, { [k]: j }])));
        same(Object.fromEntries(order.map((k, j) => [j === 3 ? `${k}2` : k, j])));
      }
    }
    // Past the cache's bound (emptied and refilled), and maps of long keys (never kept): the same bytes.
    for (let i = 0; i < 2000; i++) same({ [`k${i}`]: i, a: { [`k${i % 700}`]: [i] } });
    same({ ['x'.repeat(2000)]: 1, y: 2 });
    same(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${(i * 37) % 100}`, i])));
    // A shape with `__proto__` is refused every time, whatever came before with the same first key.
    same(JSON.parse('{"a": 1, "b": 2}'));
    expect(encodeJson(JSON.parse('{"a": 1, "__proto__": 2}'))).toBeUndefined();
    expect(encodeJson(JSON.parse('{"a": 1, "__proto__": 2}'))).toBeUndefined();
    // A field that is undefined in one object of a known shape: refused (normalize drops it), then fine again.
    expect(encodeJson({ a: 1, b: undefined })).toBeUndefined();
    same({ a: 1, b: 3 });
  });
});
