// `archive import x.car`: verify the CAR first (every hash, DAG complete), and only then store its blocks and
// pin its root, so a bad file adds nothing to the archive.
import { createReadStream } from 'node:fs';
import { CarBlockIterator } from '@ipld/car';
import { CID, verifyBlock } from './blocks.js';
import type { FolderBlockstore } from './blockstore.js';
import { verifyCar } from './car.js';

export interface ImportResult {
  root: CID;
  blocks: number;
  /** Blocks the archive did not have yet. */
  added: number;
  bytes: number;
}

export async function importCar(store: FolderBlockstore, file: string): Promise<ImportResult> {
  const v = await verifyCar(file);
  if (!v.ok) throw new Error(`${file} was not imported: ${v.error}`);
  const unreachable = new Set(v.unreachable);
  const iter = await CarBlockIterator.fromIterable(createReadStream(file));
  let blocks = 0;
  let added = 0;
  let bytes = 0;
  for await (const { cid, bytes: data } of iter) {
    const c = CID.asCID(cid)!;
    blocks++;
    // A block the root does not reach is not part of the archive: not stored (gc would remove it anyway).
    if (unreachable.has(c.toString()) || store.has(c)) continue;
    // Checked again as stored: the file could have changed since it was verified.
    if (!(await verifyBlock(c, data))) throw new Error(`${file} changed while being imported: block ${c.toString()} no longer hashes to its CID`);
    await store.put({ cid: c, bytes: data });
    added++;
    bytes += data.length;
  }
  await store.sync();
  const root = CID.parse(v.root!);
  await store.pin(root);
  return { root, blocks, added, bytes };
}
