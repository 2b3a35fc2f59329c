// CAR files (CARv1, @ipld/car): export a commit and everything it reaches; verify every block's hash and
// that the DAG is complete.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { CarBlockIterator, CarWriter } from '@ipld/car';
import { CID, verifyBlock } from './blocks.js';
import { blockLinks } from './cbor-links.js';
import type { FolderBlockstore } from './blockstore.js';

/** Every block reachable from `root`, parents before children (a deterministic order). */
export async function* walk(store: { get(cid: CID): Promise<Uint8Array> }, root: CID): AsyncGenerator<{ cid: CID; bytes: Uint8Array }> {
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length) {
    const cid = stack.pop()!;
    const key = cid.toString();
    if (seen.has(key)) continue;
    seen.add(key);
    const bytes = await store.get(cid);
    yield { cid, bytes };
    const links = blockLinks(bytes); // only the links are needed: no decode of the events
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
  }
}

/** Write the DAG under `root` to a CARv1 file; returns the number of blocks and bytes written. */
export async function exportCar(store: FolderBlockstore, root: CID, out: string): Promise<{ blocks: number; bytes: number }> {
  const { writer, out: car } = CarWriter.create([root]);
  const file = createWriteStream(out);
  const piping = (async () => {
    for await (const chunk of car) if (!file.write(chunk)) await once(file, 'drain');
    file.end();
    await once(file, 'finish');
  })();
  let blocks = 0;
  let bytes = 0;
  for await (const b of walk(store, root)) {
    await writer.put(b);
    blocks++;
    bytes += b.bytes.length;
  }
  await writer.close();
  await piping;
  return { blocks, bytes };
}

export interface VerifyResult {
  ok: boolean;
  root: string | null;
  blocks: number;
  bytes: number;
  /** The first problem found, naming the block. */
  error?: string;
  /** Valid blocks nothing links to from the root (CIDs): not part of the archive, but carried in the file. */
  unreachable: string[];
}

/** Check every block's hash and that every link from the root resolves inside the CAR. */
export async function verifyCar(file: string): Promise<VerifyResult> {
  let iter;
  try {
    iter = await CarBlockIterator.fromIterable(createReadStream(file));
  } catch (err) {
    return { ok: false, root: null, blocks: 0, bytes: 0, error: `not a readable CAR file: ${(err as Error).message}`, unreachable: [] };
  }
  const roots = await iter.getRoots();
  const root = roots[0] ? CID.asCID(roots[0])! : null;
  const blocks = new Map<string, Uint8Array>();
  let index = 0;
  let bytes = 0;
  try {
    for await (const { cid, bytes: data } of iter) {
      const c = CID.asCID(cid)!;
      if (!(await verifyBlock(c, data))) {
        return { ok: false, root: root?.toString() ?? null, blocks: index, bytes, error: `block #${index} ${c.toString()}: its bytes do not hash to its CID (corrupted)`, unreachable: [] };
      }
      blocks.set(c.toString(), data);
      bytes += data.length;
      index++;
    }
  } catch (err) {
    return { ok: false, root: root?.toString() ?? null, blocks: index, bytes, error: `block #${index}: unreadable (${(err as Error).message})`, unreachable: [] };
  }
  if (!root) return { ok: false, root: null, blocks: index, bytes, error: 'the CAR has no root', unreachable: [] };
  const reached = new Set<string>();
  try {
    for await (const { cid } of walk({ get: async (cid) => {
      const b = blocks.get(cid.toString());
      if (!b) throw new Error(`missing block ${cid.toString()}`);
      return b;
    } }, root)) reached.add(cid.toString());
  } catch (err) {
    return { ok: false, root: root.toString(), blocks: index, bytes, error: `the DAG is incomplete: ${(err as Error).message}`, unreachable: [] };
  }
  // A block nothing links to is hashed correctly but is not part of the archive the root describes: data a
  // reader of the DAG never sees (smuggled, or left over). The caller decides (verify fails on it by default).
  const unreachable = [...blocks.keys()].filter((c) => !reached.has(c));
  return { ok: true, root: root.toString(), blocks: index, bytes, unreachable };
}
