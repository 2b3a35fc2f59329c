// A CAR written by loflow imported by a Helia node (@helia/car on @helia/http's Helia, no libp2p network):
// Helia stores every block, serves the root, walks the whole DAG by its own codecs, and exports a CAR of
// it that loflow's `archive verify` accepts. None of loflow's archive code reads on Helia's side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { createHeliaHTTP } from '@helia/http';
import { car } from '@helia/car';
import { CarReader } from '@ipld/car';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { exportCar } from '../../archive/car.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { archivedRun, cli } from './helpers.js';

// Helia 6 (the last line that installs on Node 20 without building node-datachannel) calls
// Promise.withResolvers, which Node 22 has and Node 20 lacks; this is the standard's own definition.
if (typeof (Promise as any).withResolvers !== 'function') {
  (Promise as any).withResolvers = function withResolvers<T>() {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  };
}

type Helia = Awaited<ReturnType<typeof createHeliaHTTP>>;

/** Helia's blockstore answers a stream of chunks for one block; join them. */
async function heliaGet(helia: Helia, cid: CID): Promise<Uint8Array> {
  const got: any = helia.blockstore.get(cid as any, { offline: true } as any);
  if (got && typeof got[Symbol.asyncIterator] === 'function') {
    const parts: Uint8Array[] = [];
    for await (const p of got) parts.push(p);
    return Buffer.concat(parts);
  }
  return got as Uint8Array;
}

/** Every CID inside a decoded DAG-CBOR value. */
function cidsIn(value: unknown, out: CID[] = []): CID[] {
  const cid = CID.asCID(value);
  if (cid) out.push(cid);
  else if (Array.isArray(value)) for (const v of value) cidsIn(v, out);
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) for (const v of Object.values(value)) cidsIn(v, out);
  return out;
}

describe('Helia interoperability', () => {
  let helia: Helia;
  beforeAll(async () => {
    helia = await createHeliaHTTP({ routers: [], blockBrokers: [] } as any);
  });
  afterAll(async () => {
    await helia?.stop();
  });

  it('imports a loflow CAR, fetches the root commit, reaches every block and exports a CAR loflow verifies', async () => {
    const run = await archivedRun({ batches: 3 });
    const store = new FolderBlockstore(run.dir);
    const head = CID.parse(run.commits.at(-1)!);
    const file = join(run.dir, '..', 'run.car');
    const { blocks } = await exportCar(store, head, file);

    const reader = await CarReader.fromBytes(await readFile(file));
    expect((await reader.getRoots()).map(String)).toEqual([head.toString()]);
    await car(helia as any).import(reader as any);

    // The root block as Helia serves it: a loflow commit (see schemas/archive-commit.schema.json).
    const rootBytes = await heliaGet(helia, head);
    const commit = dagCbor.decode(rootBytes) as Record<string, unknown>;
    expect(commit).toHaveProperty('pipeline');
    expect(CID.asCID(commit.pipeline)).toBeTruthy();

    // Walk the whole DAG from Helia's blockstore, decoding with @ipld/dag-cbor only.
    const seen = new Set<string>();
    const stack = [head];
    while (stack.length) {
      const cid = stack.pop()!;
      if (seen.has(cid.toString())) continue;
      seen.add(cid.toString());
      expect(await helia.blockstore.has(cid as any)).toBe(true);
      stack.push(...cidsIn(dagCbor.decode(await heliaGet(helia, cid))));
    }
    expect(seen.size).toBe(blocks);

    // Helia exports the DAG again; loflow verifies Helia's CAR (every hash, the DAG complete).
    const chunks: Uint8Array[] = [];
    for await (const buf of car(helia as any).export(head as any, { offline: true } as any)) chunks.push(buf);
    const back = join(run.dir, '..', 'from-helia.car');
    await writeFile(back, Buffer.concat(chunks));
    const verified = await cli(['archive', 'verify', back]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(head.toString());
    expect(verified.stdout).toContain(`${blocks} blocks`);
  });
});
