// The link scan that export, verify and gc use instead of decoding blocks: on every block of a real archive it
// lists exactly what linksOf(decodeBlock) lists, in the same order; whatever it does not take (non-canonical,
// malformed, numeric keys that JS objects reorder) goes to the decoder, so results and errors are the old ones.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dagCbor from '@ipld/dag-cbor';
import { CID, decodeBlock, encodeBlock, linksOf } from '../../archive/blocks.js';
import { blockLinks, scanLinks } from '../../archive/cbor-links.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { archivedRun } from './helpers.js';

const text = (l: CID[] | null) => l?.map((c) => c.toString()) ?? null;

/** linksOf(decodeBlock(bytes)) as text, or the decoder's error message. */
function reference(bytes: Uint8Array): string[] | { error: string } {
  try {
    return text(linksOf(decodeBlock(bytes)))!;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function viaBlockLinks(bytes: Uint8Array): string[] | { error: string } {
  try {
    return text(blockLinks(bytes))!;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const cid = async (n: number) => (await encodeBlock({ n })).cid;
/** A tag-42 link as DAG-CBOR writes it: d8 2a, a byte string of 0x00 + the CID's bytes. */
const link = (c: CID) => [0xd8, 0x2a, 0x58, c.bytes.length + 1, 0, ...c.bytes];
const key = (k: string) => [0x60 + k.length, ...Buffer.from(k)];

describe('scanLinks', () => {
  it('lists the links of every block of a real archive as a decode does, in the same order', async () => {
    const run = await archivedRun({ batches: 4, students: 6, chunkEvents: 50 });
    const store = new FolderBlockstore(run.dir);
    const { cids } = await store.list();
    let linked = 0;
    for (const c of cids) {
      const bytes = readFileSync(join(store.blocks, c));
      const scanned = scanLinks(bytes);
      expect(scanned, c).not.toBeNull();
      expect(text(scanned)).toEqual(reference(bytes));
      linked += scanned!.length;
    }
    expect(cids.length).toBeGreaterThan(20);
    expect(linked).toBeGreaterThan(cids.length); // commits, indexes and chains: links were really found
  }, 120_000);

  it('leaves numeric keys to the decoder: a JS object lists "9" and "10" before "a", DAG-CBOR writes "10" last', async () => {
    const [a, b, c] = [await cid(1), await cid(2), await cid(3)];
    const bytes = dagCbor.encode({ '10': a, '9': b, a: c });
    expect(scanLinks(bytes)).toBeNull();
    expect(text(blockLinks(bytes))).toEqual([b, a, c].map(String));
    // A map with numeric keys but no links below it changes nothing: the scan takes the block.
    expect(text(scanLinks(dagCbor.encode({ e: { '10': 1, '9': 2 }, a: c })))).toEqual([c.toString()]);
  });

  it('leaves keys out of canonical order, repeated keys and malformed bytes to the decoder (same links, same errors)', async () => {
    const [a, b] = [await cid(1), await cid(2)];
    const unsorted = Uint8Array.from([0xa2, ...key('b'), ...link(b), ...key('a'), ...link(a)]);
    expect(scanLinks(unsorted)).toBeNull();
    expect(viaBlockLinks(unsorted)).toEqual(reference(unsorted));
    expect(viaBlockLinks(unsorted)).toEqual([b, a].map(String));
    const good = dagCbor.encode({ a, b, n: 300 });
    const cases: Uint8Array[] = [
      Uint8Array.from([0xa2, ...key('a'), ...link(a), ...key('a'), ...link(b)]), // repeated key
      good.subarray(0, good.length - 3), // truncated
      Uint8Array.from([...good, 0]), // trailing byte
      Uint8Array.from([0xa1, ...key('a'), 0xd8, 0x2a, 0x58, a.bytes.length + 1, 1, ...a.bytes]), // no 0x00 before the CID
      Uint8Array.from([0xa1, ...key('a'), 0x18, 0x05]), // an int in more bytes than needed
      Uint8Array.from([0xbf, ...key('a'), ...link(a), 0xff]), // indefinite-length map
      Uint8Array.from([0xa1, ...key('a'), 0xd8, 0x2b, 0x41, 0]), // a tag other than 42
      Uint8Array.from([0xa1, ...key('a'), 0xf7]), // undefined
    ];
    for (const bytes of cases) {
      expect(scanLinks(bytes)).toBeNull();
      expect(viaBlockLinks(bytes)).toEqual(reference(bytes));
    }
    expect(cases.filter((x) => 'error' in (reference(x) as object)).length).toBeGreaterThanOrEqual(5);
  });

  it('never takes a damaged block the decoder would refuse or read differently (seeded byte flips)', async () => {
    const run = await archivedRun({ batches: 2, students: 4, chunkEvents: 40 });
    const store = new FolderBlockstore(run.dir);
    const head = (await store.head())!;
    const commit = decodeBlock(await store.get(head));
    const index = await store.get(Object.values(commit.heads as Record<string, CID>)[0]);
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    let taken = 0;
    for (const original of [await store.get(head), index]) {
      for (let k = 0; k < 1500; k++) {
        const bytes = Uint8Array.from(original);
        for (let f = 0, flips = 1 + rand(3); f < flips; f++) bytes[rand(bytes.length)] = rand(256);
        const scanned = scanLinks(bytes);
        if (scanned === null) continue;
        taken++;
        expect(text(scanned)).toEqual(reference(bytes)); // an error here would be an object, not a list
      }
    }
    expect(taken).toBeGreaterThan(100); // many flips land in strings or numbers: the scan took those
  }, 120_000);
});
