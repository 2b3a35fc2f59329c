// A chunk assembled from its events' bytes (archive/chunk-bytes.ts, encoded as each event arrives) is byte for
// byte the DAG-CBOR encoding of the whole chunk, as the writer made it before: same blocks, same CIDs. For
// random events (odd values normalize has to fix: undefined, NaN, `__proto__` keys, nested arrays), both
// chunk kinds, and every array-head size.
import fc from 'fast-check';
import * as dagCbor from '@ipld/dag-cbor';
import { identity } from 'multiformats/hashes/identity';
import { describe, expect, it } from 'vitest';
import { CID, encodeBlock, encodeNormalized, normalize } from '../../archive/blocks.js';
import { chunkBytes, pendingEntry, PendingEvents, plaintextBytes } from '../../archive/chunk-bytes.js';
import type { ArchivedEntry } from '../../archive/format.js';

const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__')), tie('v'), { maxKeys: 4 }),
  ),
})).v;

const entry = fc.record({ o: fc.nat(), t: fc.nat(), e: fc.dictionary(fc.string(), value, { maxKeys: 5 }), i: fc.option(fc.nat(), { nil: undefined }) });

describe('chunk bytes from pre-encoded events', () => {
  it('equal the encoding of the whole chunk (plaintext and encrypted payload)', async () => {
    const prev = (await encodeBlock({ any: 'block' })).cid;
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), fc.option(fc.string(), { nil: null }), fc.string(), fc.boolean(), (events, learner, stream, linked) => {
        const pending = PendingEvents.from(events.map((e) => pendingEntry(e as ArchivedEntry)));
        const head = linked ? prev : null;
        const whole = encodeNormalized({ type: 'loflow/chunk', stream, learner, prev: head, count: events.length, events });
        expect(Buffer.from(chunkBytes({ stream, learner, prev: head }, pending)).equals(Buffer.from(whole))).toBe(true);
        const plain = dagCbor.encode(normalize({ learner, events }));
        expect(Buffer.from(plaintextBytes(learner, pending)).equals(Buffer.from(plain))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('for every array head size (1, 23, 24, 255, 256, 1000 and 70,000 events)', () => {
    for (const n of [1, 23, 24, 255, 256, 1000, 70_000]) {
      const events: ArchivedEntry[] = Array.from({ length: n }, (_, i) => ({ o: i, t: 1000 + i, e: { event: 'keystroke', n: i }, i }));
      const pending = PendingEvents.from(events.map(pendingEntry));
      const whole = dagCbor.encode({ type: 'loflow/chunk', stream: 'extension', learner: 's-1', prev: null, count: n, events });
      expect(Buffer.from(chunkBytes({ stream: 'extension', learner: 's-1', prev: null }, pending)).equals(Buffer.from(whole))).toBe(true);
      expect(dagCbor.decode<{ events: unknown[] }>(chunkBytes({ stream: 'extension', learner: 's-1', prev: CID.parse('bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku') }, pending)).events.length).toBe(n);
    }
  });

  it('pending events: undone by truncate, filtered by offset, the same chunk as the entries they hold', () => {
    const events: ArchivedEntry[] = Array.from({ length: 300 }, (_, i) => ({ o: 10 + i, t: 1000 + i, e: { event: 'keystroke', text: 'x'.repeat(i % 90) }, i }));
    const entries = events.map(pendingEntry);
    const h = { stream: 'extension', learner: 's-1', prev: null };
    const p = PendingEvents.from(entries);
    expect(p.length).toBe(300);
    p.truncate(120);
    expect(Buffer.from(chunkBytes(h, p)).equals(Buffer.from(chunkBytes(h, PendingEvents.from(entries.slice(0, 120)))))).toBe(true);
    for (const e of entries.slice(120)) p.push(e.o, e.b);
    expect(Buffer.from(chunkBytes(h, p)).equals(Buffer.from(chunkBytes(h, PendingEvents.from(entries))))).toBe(true);
    const later = p.filter((o) => o >= 200);
    expect(later.length).toBe(110);
    expect(Buffer.from(chunkBytes(h, later)).equals(Buffer.from(dagCbor.encode({ type: 'loflow/chunk', stream: 'extension', learner: 's-1', prev: null, count: 110, events: events.filter((e) => e.o >= 200) })))).toBe(true);
    p.truncate(0);
    expect(p.length).toBe(0);
    expect(p.bytes().length).toBe(0);
  });

  it('a chunk whose fields do not fit the room before its events (a long prev link) is still whole', () => {
    const events: ArchivedEntry[] = Array.from({ length: 5 }, (_, i) => ({ o: i, t: i, e: { event: 'keystroke' }, i }));
    const prev = CID.create(1, dagCbor.code, identity.digest(new Uint8Array(200).fill(7)));
    const h = { stream: 'extension', learner: 's-1', prev };
    const p = PendingEvents.from(events.map(pendingEntry));
    const want = dagCbor.encode({ type: 'loflow/chunk', stream: 'extension', learner: 's-1', prev, count: 5, events });
    expect(Buffer.from(chunkBytes(h, p)).equals(Buffer.from(want))).toBe(true);
    // Sealed in place (short link) and then undone: the chain's events are as they were.
    expect(Buffer.from(chunkBytes({ ...h, prev: null }, p)).equals(Buffer.from(dagCbor.encode({ ...h, type: 'loflow/chunk', prev: null, count: 5, events })))).toBe(true);
    expect(Buffer.from(chunkBytes(h, p)).equals(Buffer.from(want))).toBe(true);
  });
});

