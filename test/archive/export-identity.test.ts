// Export walks links by scanning block bytes, not by decoding them: the CAR it writes must be the one the
// decoding walk wrote, byte for byte, and verify must still read it whole.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CarWriter } from '@ipld/car';
import { CID, decodeBlock, linksOf } from '../../archive/blocks.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { archivedRun } from './helpers.js';

/** The CAR the export wrote before the scan: depth-first, every block decoded for its links. */
async function decodingExport(store: FolderBlockstore, root: CID): Promise<Buffer> {
  const { writer, out } = CarWriter.create([root]);
  const chunks: Uint8Array[] = [];
  const collecting = (async () => {
    for await (const c of out) chunks.push(c);
  })();
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length) {
    const cid = stack.pop()!;
    if (seen.has(cid.toString())) continue;
    seen.add(cid.toString());
    const bytes = await store.get(cid);
    await writer.put({ cid, bytes });
    const links = linksOf(decodeBlock(bytes));
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
  }
  await writer.close();
  await collecting;
  return Buffer.concat(chunks);
}

describe('export', () => {
  it('writes the same CAR bytes as the decoding walk, and verify reads every block of it', async () => {
    const run = await archivedRun({ batches: 6, students: 8, chunkEvents: 60 });
    const store = new FolderBlockstore(run.dir);
    for (const commit of [run.commits[0], run.commits.at(-1)!]) {
      const root = CID.parse(commit);
      const car = join(run.dir, '..', `${commit}.car`);
      const r = await exportCar(store, root, car);
      const bytes = readFileSync(car);
      expect(bytes.equals(await decodingExport(store, root))).toBe(true);
      expect(await verifyCar(car)).toEqual({ ok: true, root: commit, blocks: r.blocks, bytes: r.bytes, unreachable: [] });
    }
  }, 120_000);
});
