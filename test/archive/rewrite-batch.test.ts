// The export's rewrite threads (archive/rewrite-batch.ts): a batch comes back as the same bytes a rewrite on
// this thread gives, and a thread that cannot rewrite answers with an error (the export fails with it, not
// the process).
import { readFileSync } from 'node:fs';
import * as dagCbor from '@ipld/dag-cbor';
import { describe, expect, it } from 'vitest';
import { BatchPacker, rewriteBatch, rewritersOf, threadRewriter, type RewriteInit } from '../../archive/rewrite-batch.js';
import { identifierPaths } from '../../archive/learners.js';
import { Classroom } from '../../engine/classroom.js';
import { demoFile } from '../../bench/fixtures.js';

const text = readFileSync(demoFile, 'utf8');
const init: RewriteInit = { text, deidentify: { idFields: identifierPaths(text), dropFields: [], key: new Uint8Array(Buffer.from('rewrite-batch-test-key')) }, learners: false, ids: ['s-0001', 's-0002'] };

function batchOf(n: number, id: number) {
  const pack = new BatchPacker<number>(1024);
  for (const [i, e] of [...new Classroom({ students: 3, seed: 5 }).events(n)].entries()) {
    const b = dagCbor.encode(e.event);
    pack.add(i, b, 0, b.length);
  }
  return pack.take(id, false).batch;
}

describe('rewrite threads', () => {
  it('rewrite a batch as this thread does, and this thread helps with batches still waiting', async () => {
    const rws = rewritersOf(init)!;
    const want = rewriteBatch(rws, batchOf(40, 0), true);
    expect(want.notPlain).toEqual([]);
    expect(want.learners.every((l) => l !== null && /^[0-9a-f]{64}$/.test(l))).toBe(true); // pseudonyms
    const r = threadRewriter(init, rws, 1);
    try {
      const all = [0, 1, 2, 3].map((id) => r.rewrite(batchOf(40, id)));
      await r.help(); // the thread has one; the others may be rewritten here
      for (const got of await Promise.all(all)) {
        expect(Buffer.from(got.bytes).equals(Buffer.from(want.bytes))).toBe(true);
        expect([...got.ends]).toEqual([...want.ends]);
        expect(got.learners).toEqual(want.learners);
      }
    } finally {
      await r.close();
    }
  });

  it('a thread that cannot rewrite the selection answers each batch with an error', async () => {
    // A learner key path with an array index: the byte path does not read it (the export takes the object path).
    const bad: RewriteInit = { ...init, text: 'name: x\nkeys:\n  student: $.a[0]\n' };
    expect(rewritersOf(bad)).toBeNull();
    const r = threadRewriter(bad, rewritersOf(init)!, 1);
    try {
      await expect(r.rewrite(batchOf(5, 0))).rejects.toThrow(/rewrite thread failed: the byte path cannot rewrite this selection/);
    } finally {
      await r.close();
    }
    await expect(r.rewrite(batchOf(5, 1))).rejects.toThrow(/closed/);
  });
});
