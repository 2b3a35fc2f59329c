// A study export rewrites events on their DAG-CBOR bytes (archive/deidentify-bytes.ts). It must give exactly
// what the object path gives (decode, deidentifier, IdScanner on the result, encode): byte for byte, the same
// leaks at the same paths, and the same export root CID.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dagCbor from '@ipld/dag-cbor';
import { encodeNormalized } from '../../archive/blocks.js';
import { verifyCar } from '../../archive/car.js';
import { Slab } from '../../archive/cbor-bytes.js';
import { pendingEntry, PendingEvents } from '../../archive/chunk-bytes.js';
import { ByteIdSearch, BytesDeidentifier, pathTrie, readLearner } from '../../archive/deidentify-bytes.js';
import { IdScanner } from '../../archive/id-scan.js';
import { identifierPaths, learnerReader } from '../../archive/learners.js';
import { deidentifier } from '../../archive/pseudonymize.js';
import { folderSource } from '../../archive/read.js';
import { exportSelection, ExportRefused } from '../../archive/rewrite.js';
import { Classroom, rng } from '../../engine/classroom.js';
import type { LoEvent } from '../../engine/types.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { demoFile } from '../../bench/fixtures.js';
import { archivedRun } from './helpers.js';

const key = Buffer.from('a test key of some length');
const ids = ['s-0001', 's-0002', 'doc-s-0001-0', 'ünï-1234', '12345'];

/** Random JSON-like values with ids in strings, keys and numbers, floats, nulls and deep nesting. */
function randomValue(r: () => number, depth: number): unknown {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const k = r();
  if (depth > 3 || k < 0.35) {
    return pick<unknown>([
      null,
      true,
      false,
      0,
      -1,
      23,
      24,
      255,
      256,
      65536,
      2 ** 32 + 5,
      -(2 ** 40),
      1.5,
      -0.25,
      1e20,
      12345,
      '',
      'plain',
      'ab',
      pick(ids),
      `x ${pick(ids)} y`,
      'é'.repeat(Math.floor(r() * 30)),
      'z'.repeat(Math.floor(r() * 300)),
      'f'.repeat(64),
    ]);
  }
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 26) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let n = Math.floor(r() * 26); n > 0; n--) o[pick(['a', 'b', 'id', 'url', 'user_id', 'list', '2', 's-0002', `k${Math.floor(r() * 40)}`])] = randomValue(r, depth + 1);
  return o;
}

function randomEvent(r: () => number): Record<string, unknown> {
  const e = randomValue(r, 1);
  const base = e && typeof e === 'object' && !Array.isArray(e) ? (e as Record<string, unknown>) : { v: e };
  return { ...base, auth: r() < 0.9 ? { user_id: ids[Math.floor(r() * 2)], email: r() < 0.5 ? 'x@y.z' : 7 } : 'none', list: [randomValue(r, 2), ids[0], [1, ids[1], 3]] };
}

const pathPool = ['$.auth.user_id', '$.auth.email', '$.a', '$.a.b', '$.id', '$.list[1]', '$.list[2][1]', '$.list[*]', '$.b[*].id', '$.url', '$.k3[*]', '$["2"]', '$.list[0].a', '$.nothing.here', '$[*].id'];

describe('de-identifying on the bytes', () => {
  // Without a numeric id the byte path searches only the runs it copies, and walks again on a hit; with one,
  // it searches item by item (a number can equal an id): both must find every leak the object path finds.
  it.each([
    ['with a numeric id (searched item by item)', ids],
    ['without one (copied runs searched first)', ids.filter((id) => String(Number(id)) !== id)],
  ])('gives the bytes, leaks and learner of the object path for random events and paths, %s', (_, known) => {
    const r = rng(11);
    let leaking = 0;
    let compared = 0;
    let overlapping = 0;
    for (let round = 0; round < 200; round++) {
      const chosen = pathPool.filter(() => r() < 0.25);
      const drops = chosen.filter(() => r() < 0.3);
      const hmacs = chosen.filter((p) => !drops.includes(p));
      const trie = pathTrie(drops, hmacs);
      if (!trie) {
        overlapping++;
        continue;
      }
      const scanner = new IdScanner();
      for (const id of known) scanner.add(id);
      const search = new ByteIdSearch(scanner.list());
      expect(search.numeric.size > 0).toBe(known === ids);
      const rw = new BytesDeidentifier(trie, key, search);
      const transform = deidentifier({ idFields: hmacs, dropFields: drops, key });
      const out = new Slab();
      for (let n = 0; n < 20; n++) {
        const event = randomEvent(r);
        const bytes = dagCbor.encode(event);
        const want = transform(dagCbor.decode(bytes) as never);
        const wantLeaks: string[] = [];
        scanner.scan(want, (p) => wantLeaks.push(p));
        const gotLeaks: string[] = [];
        out.begin();
        const end = rw.rewrite(bytes, 0, out, (p) => gotLeaks.push(p));
        expect(end).toBe(bytes.length);
        const got = out.end();
        expect(Buffer.from(got).toString('hex')).toBe(Buffer.from(encodeNormalized(want)).toString('hex'));
        expect(gotLeaks.sort()).toEqual(wantLeaks.sort());
        if (wantLeaks.length) leaking++;
        expect(readLearner(got, 0, ['auth', 'user_id'])).toBe(learnerReader('$.auth.user_id')(want));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(2000);
    expect(leaking).toBeGreaterThan(500); // the search is tested, not only the rewrite
    expect(overlapping).toBeGreaterThan(0); // overlapping paths are left to the object path, not rewritten wrongly
  });

  it('refuses overlapping paths (the object path applies them in order)', () => {
    expect(pathTrie([], ['$.a', '$.a.b'])).toBeNull();
    expect(pathTrie(['$.a.b'], ['$.a'])).toBeNull();
    expect(pathTrie(['$.a'], ['$.a', '$.a.b', '$.c'])).not.toBeNull(); // dropped first: nothing left to pseudonymize
    expect(pathTrie([], ['$.a[*]', '$.a[1]'])).toBeNull();
    expect(pathTrie([], ['$.a', '$.a'])).toBeNull(); // twice: pseudonym of the pseudonym
    expect(pathTrie([], ['$.a.length'])).toBeNull();
    expect(pathTrie(['$.url'], ['$.a.b', '$.a.c', '$.x[*][2]'])).not.toBeNull();
  });

  it('assembles an entry as pendingEntry encodes it', () => {
    const e = dagCbor.encode({ event: 'x', n: [1, 2] });
    for (const [o, t, i] of [
      [0, 0, 0],
      [23, 24, 255],
      [2 ** 40, 1.5, 65536],
      [7, -3, 1],
      [5, 1e20, 2 ** 32],
    ]) {
      const want = pendingEntry({ o, t, e: dagCbor.decode(e) as never, i }).b;
      const got = new PendingEvents();
      got.pushEntry(o, t, e, i);
      expect(Buffer.from(got.bytes()).toString('hex')).toBe(Buffer.from(want).toString('hex'));
    }
  });

  it('exports the same DAG as the object path: pseudonymized, filtered by time and by learner, and refused alike', async () => {
    const run = await archivedRun({ batches: 6, students: 12 });
    const src = await folderSource(run.dir);
    const idFields = identifierPaths(run.pipeline.text);
    const learners = new Set(run.sent.map((s) => (s.event as { auth?: { user_id?: string } }).auth?.user_id).filter((x): x is string => !!x).slice(0, 5));
    const selections = [
      { deidentify: { key, idFields: idFields.filter((f) => f !== '$.url'), dropFields: ['$.url'] } },
      { deidentify: { key, idFields, dropFields: [] }, since: 2000, until: 5000, streams: ['extension'] },
      { deidentify: { key, idFields, dropFields: ['$.metadata'] }, learners },
      { since: 3000 },
      // $.url both dropped and pseudonymized: dropped (as the object path does, dropping first).
      { deidentify: { key, idFields, dropFields: ['$.url'] } },
      // Overlapping: $.auth pseudonymized whole and $.auth.user_id too; the object path applies them in turn.
      { deidentify: { key, idFields: [...idFields, '$.auth'], dropFields: [] } },
    ];
    for (const [k, sel] of selections.entries()) {
      const a = await exportSelection(src, sel, join(run.dir, '..', `bytes-${k}.car`));
      const b = await exportSelection(src, sel, join(run.dir, '..', `objects-${k}.car`), 1000, { bytePath: false });
      // Rewritten in two threads, in batches of 50 (a large export's way; small ones stay on this thread).
      const c = await exportSelection(src, sel, join(run.dir, '..', `threads-${k}.car`), 1000, { threads: 2, batch: 50 });
      expect(a.events).toBeGreaterThan(0);
      expect(a.onBytes).toBe(k === 5 ? 0 : a.events); // every stream took the byte path, but for overlapping paths
      expect(b.onBytes).toBe(0);
      expect({ root: a.root.toString(), events: a.events, included: a.included }).toEqual({ root: b.root.toString(), events: b.events, included: b.included });
      expect({ root: c.root.toString(), events: c.events, onBytes: c.onBytes, included: c.included }).toEqual({ root: b.root.toString(), events: b.events, onBytes: a.onBytes, included: b.included });
    }
    // An id left in an undeclared field: both refuse, naming the same places.
    const leaky = { deidentify: { key, idFields: idFields.filter((f) => f !== '$.object.id'), dropFields: [] } };
    const refusal = async (bytePath: boolean) => {
      try {
        await exportSelection(src, leaky, join(run.dir, '..', 'leaky.car'), 1000, { bytePath });
      } catch (err) {
        if (err instanceof ExportRefused) return { paths: [...err.paths].sort(), message: err.message.replace(/, and \d+ more/, '') };
        throw err;
      }
      return null;
    };
    const [byBytes, byObjects] = [await refusal(true), await refusal(false)];
    const inThreads = await (async () => {
      try {
        await exportSelection(src, leaky, join(run.dir, '..', 'leaky.car'), 1000, { threads: 1, batch: 64 });
      } catch (err) {
        if (err instanceof ExportRefused) return [...err.paths].sort();
        throw err;
      }
      return null;
    })();
    expect(inThreads).toEqual(byObjects?.paths);
    expect(byBytes?.paths.some((p) => p.includes('$.object.id'))).toBe(true);
    expect(byBytes?.paths).toEqual(byObjects?.paths);
    // Refused: no CAR, and no part of one (it is written beside `out` as it is built, then renamed).
    expect(readdirSync(join(run.dir, '..')).filter((f) => f.startsWith('leaky.car'))).toEqual([]);
    // Written straight into the CAR: every block it holds is reached from the root, once.
    const v = await verifyCar(join(run.dir, '..', 'bytes-0.car'));
    expect(v).toMatchObject({ ok: true, unreachable: [] });
    await src.close();
  });

  it('decodes just the events it cannot rewrite on their bytes', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'loflow-bytes-')), 'a');
    const text = readFileSync(demoFile, 'utf8');
    const writer = await ArchiveWriter.open(dir, { name: 'bytes', text, sources: ['extension'] }, 50);
    const events = [...new Classroom({ students: 6, seed: 3 }).events(300)].map((e, i) => ({ offset: i, stream: 'extension', at: 1000 + i, event: e.event as LoEvent }));
    // A byte string (DAG-CBOR major type 2) is copied as it is. But IdScanner walks it as an object (its
    // items are numbers), which the byte path does not reproduce: when its bytes hold a learner id, the byte
    // path's search finds that, walks item by item, stops at the byte string and the event is decoded.
    events[17].event = { ...events[17].event, blob: new Uint8Array([1, 2, 3]) } as unknown as LoEvent;
    const someone = events.find((e) => e.event.auth?.user_id)!.event.auth!.user_id as string;
    events[18].event = { ...events[18].event, blob: new Uint8Array(Buffer.from(`<${someone}>`)) } as unknown as LoEvent;
    await writer.append('extension', events);
    await writer.commit();
    await writer.close();
    const src = await folderSource(dir);
    const sel = { deidentify: { key, idFields: identifierPaths(text).filter((f) => f !== '$.url'), dropFields: ['$.url'] } };
    const a = await exportSelection(src, sel, join(dir, '..', 'a.car'));
    const b = await exportSelection(src, sel, join(dir, '..', 'b.car'), 1000, { bytePath: false });
    expect(a.root.toString()).toBe(b.root.toString());
    expect([a.events, a.onBytes]).toEqual([300, 299]);
    // In a rewrite thread (what a large export uses), batches of 7: the same DAG, the same event decoded.
    const c = await exportSelection(src, sel, join(dir, '..', 'c.car'), 1000, { threads: 1, batch: 7 });
    expect([c.root.toString(), c.events, c.onBytes]).toEqual([b.root.toString(), 300, 299]);
    await src.close();
  });
});
