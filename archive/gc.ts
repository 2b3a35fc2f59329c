// Garbage collection of a folder archive: keep every block reachable from a pin, from HEAD (and so the
// whole commit history) and from the analysis log; delete the rest and leftover temp files. Refused while
// a writer holds the folder's lock (or a worker its LOCK.<pid>): its newest chunks are unreachable until its
// next commit.
import type { CID } from './blocks.js';
import { blockLinks } from './cbor-links.js';
import type { FolderBlockstore } from './blockstore.js';
import { readdirSync } from 'node:fs';
import { acquireLock, lockHolder } from './lock.js';
import { ANALYSES_REF } from './analysis-log.js';

export interface GcResult {
  kept: number;
  /** CIDs of the removed blocks, sorted. */
  removed: string[];
  /** Leftover temp files of interrupted writes that were removed. */
  temps: string[];
  bytes: number;
}

/** CIDs reachable from `roots` among the stored blocks; links to blocks not stored are skipped. */
export async function reachable(store: FolderBlockstore, roots: CID[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const cid = stack.pop()!;
    const key = cid.toString();
    // An analysis entry may name an input CAR that was never imported: not stored is not an error here.
    if (seen.has(key) || !store.has(cid)) continue;
    seen.add(key);
    for (const l of blockLinks(await store.get(cid))) stack.push(l);
  }
  return seen;
}

export async function gc(store: FolderBlockstore, opts: { dryRun?: boolean } = {}): Promise<GcResult> {
  const release = acquireLock(store.dir, { exclusive: true }); // throws when a live writer holds it
  // Workers' part writers hold `LOCK.<pid>` (their leases fence each partition): any live one refuses gc too.
  for (const name of readdirSync(store.dir).filter((n) => n.startsWith('LOCK.'))) {
    const pid = lockHolder(store.dir, name);
    if (pid !== undefined && pid !== process.pid) {
      release();
      throw new Error(`the archive ${store.dir} is in use by worker process ${pid} (its ${name} file); stop the workers first`);
    }
  }
  try {
    const roots = [...(await store.pins())];
    for (const ref of ['HEAD', ANALYSES_REF]) {
      const cid = await store.ref(ref);
      if (cid) roots.push(cid);
    }
    const keep = await reachable(store, roots);
    const { cids, temps } = await store.list();
    const removed = cids.filter((c) => !keep.has(c)).sort();
    let bytes = 0;
    if (!opts.dryRun) {
      for (const name of [...removed, ...temps]) bytes += await store.remove(name);
    }
    return { kept: cids.length - removed.length, removed, temps, bytes };
  } finally {
    release();
  }
}
