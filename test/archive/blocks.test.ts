// encodeBlock skips normalize's copy for values that are already normal: the bytes (and so the CIDs) must be
// the ones normalize + encode gave, for every kind of value.
import { describe, expect, it } from 'vitest';
import * as dagCbor from '@ipld/dag-cbor';
import { CID, encodeBlock, isNormal, normalize } from '../../archive/blocks.js';

class Point {
  constructor(
    readonly x: number,
    readonly y?: number,
  ) {}
}

const cid = CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');
const normalValues: unknown[] = [
  JSON.parse('{"event":"keystroke","ts":1,"auth":{"user_id":"s-1"},"keystroke":{"key":"a","pos":-0},"list":[1,2.5,"x",null,true,{}]}'),
  { type: 'loflow/chunk', prev: cid, events: [{ o: 1, t: 2, e: { a: [] }, i: 0 }], bytes: new Uint8Array([1, 2]) },
  Object.assign(Object.create(null), { a: 1 }),
  'text',
  0,
  null,
  [],
];
const otherValues: unknown[] = [
  { a: undefined, b: 1 },
  [1, undefined, 3],
  { n: NaN, m: [Infinity, -Infinity] },
  { when: new Date(0) },
  { p: new Point(1) },
  JSON.parse('{"__proto__":{"x":1},"a":2}'),
  JSON.parse('{"__proto__":1,"a":2}'),
  { m: new Map([['k', 1]]) },
  undefined,
];

describe('encodeBlock', () => {
  it('knows which values normalize would leave as they are', () => {
    for (const v of normalValues) expect(isNormal(v)).toBe(true);
    for (const v of otherValues) expect(isNormal(v)).toBe(false);
  });

  it('gives the bytes and CID of normalize + encode for normal and other values alike', async () => {
    for (const v of [...normalValues, ...otherValues]) {
      const block = await encodeBlock(v);
      const bytes = dagCbor.encode(normalize(v));
      expect(Buffer.from(block.bytes).equals(Buffer.from(bytes))).toBe(true);
      expect((await encodeBlock(normalize(v))).cid.equals(block.cid)).toBe(true);
    }
  });

  it('still refuses what normalize cannot make encodable', async () => {
    await expect(encodeBlock({ f: () => 1 })).rejects.toThrow();
    await expect(encodeBlock([1, , 3])).rejects.toThrow(); // a hole survives normalize's map
  });
});
