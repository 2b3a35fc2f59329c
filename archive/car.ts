// CAR files (CARv1): export a commit and everything it reaches (car-write.ts); verify every block's hash and
// that the DAG is complete. Both find a block's links with the tail scan (cbor-links.ts) and key blocks by
// their CID's bytes; verify reads the file in large reads (car-read.ts) and keeps each block's links, never
// its bytes.
import { createHash } from 'node:crypto';
import { CID } from './blocks.js';
import { tailLinks } from './cbor-links.js';
import { CarFrameError, forEachFrame, openCar, type CarFile } from './car-read.js';

/** A CID's bytes as a string: a Set/Map key without base32 encoding. */
const keyOf = (cid: CID) => Buffer.from(cid.bytes.buffer, cid.bytes.byteOffset, cid.bytes.length).toString('latin1');
const cidOf = (key: string) => CID.decode(Buffer.from(key, 'latin1'));
/** Reads started ahead of the walk (the blocks on top of its stack): file reads overlap the scan. */
const PREFETCH = 8;

/** Every block reachable from `root`, parents before children (a deterministic order). */
export async function* walk(store: { get(cid: CID): Promise<Uint8Array> }, root: CID): AsyncGenerator<{ cid: CID; bytes: Uint8Array }> {
  const seen = new Set<string>();
  const stack = [root];
  const ahead = new Map<string, Promise<Uint8Array>>();
  while (stack.length) {
    const cid = stack.pop()!;
    const key = keyOf(cid);
    if (seen.has(key)) continue;
    seen.add(key);
    const bytes = await (ahead.get(key) ?? store.get(cid));
    ahead.delete(key);
    yield { cid, bytes };
    const links = tailLinks(bytes); // only the links are needed: no decode of the events
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
    for (let i = stack.length - 1; i >= Math.max(0, stack.length - PREFETCH); i--) {
      const k = keyOf(stack[i]);
      if (seen.has(k) || ahead.has(k)) continue;
      const p = store.get(stack[i]);
      p.catch(() => {}); // awaited when its turn comes (and throws there); a block never reached is dropped
      ahead.set(k, p);
    }
  }
}

export { exportCar } from './car-write.js';

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
  let car: CarFile;
  try {
    car = await openCar(file);
  } catch (err) {
    return { ok: false, root: null, blocks: 0, bytes: 0, error: `not a readable CAR file: ${(err as Error).message}`, unreachable: [] };
  }
  const root = car.roots[0] ?? null;
  const rootText = root?.toString() ?? null;
  // Per block: the keys of its links, or the decoder's error (raised only if the block is reached).
  const blocks = new Map<string, string[] | Error>();
  let index = 0;
  let bytes = 0;
  let bad = '';
  try {
    await forEachFrame(car, ({ cid, hashCode, digest, block }) => {
      // sha2-256 only, which is all loflow writes: any other hash reads as corrupted (it cannot be checked).
      if (hashCode !== 0x12 || digest.length !== 32 || !createHash('sha256').update(block).digest().equals(digest)) {
        bad = cid.toString('latin1');
        return false;
      }
      let links: string[] | Error;
      try {
        links = tailLinks(block).map(keyOf);
      } catch (err) {
        links = err as Error;
      }
      blocks.set(cid.toString('latin1'), links);
      bytes += block.length;
      index++;
    });
  } catch (err) {
    const at = err instanceof CarFrameError ? err.index : index;
    return { ok: false, root: rootText, blocks: index, bytes, error: `block #${at}: unreadable (${(err as Error).message})`, unreachable: [] };
  } finally {
    await car.fh.close();
  }
  if (bad) {
    return { ok: false, root: rootText, blocks: index, bytes, error: `block #${index} ${cidOf(bad).toString()}: its bytes do not hash to its CID (corrupted)`, unreachable: [] };
  }
  if (!root) return { ok: false, root: null, blocks: index, bytes, error: 'the CAR has no root', unreachable: [] };
  // Depth first from the root, as the export walks: the first missing block named is the one a walk meets first.
  const reached = new Set<string>();
  const stack = [keyOf(root)];
  while (stack.length) {
    const key = stack.pop()!;
    if (reached.has(key)) continue;
    const links = blocks.get(key);
    if (links === undefined || links instanceof Error) {
      const problem = links === undefined ? `missing block ${cidOf(key).toString()}` : links.message;
      return { ok: false, root: rootText, blocks: index, bytes, error: `the DAG is incomplete: ${problem}`, unreachable: [] };
    }
    reached.add(key);
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
  }
  // A block nothing links to is hashed correctly but is not part of the archive the root describes: data a
  // reader of the DAG never sees (smuggled, or left over). The caller decides (verify fails on it by default).
  const unreachable = [...blocks.keys()].filter((k) => !reached.has(k)).map((k) => cidOf(k).toString());
  return { ok: true, root: rootText, blocks: index, bytes, unreachable };
}
