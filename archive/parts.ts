// Format 3 with partitions (docs/scale-out.md §8, §13): a commit links one loflow/part per partition, each
// shaped like a format 2 commit's heads/counts/through. Readers go through partsOf, which presents a format
// 1/2 commit (and a crypto format 3 one with `heads`) as its only part, so what reads one part reads all.
import { CID, encodeBlock, decodeBlock } from './blocks.js';
import type { FolderBlockstore } from './blockstore.js';
import type { CommitBlock, PartBlock, Partitioning } from './format.js';

/** True for a commit that links parts (format 3 partitioned). */
export const isParted = (c: CommitBlock): boolean => Array.isArray(c.parts);

/**
 * The commit's parts, each as a commit-shaped view (its heads, counts and through; the commit's other
 * fields), in partition order; a partition with no part yet is left out. Formats 1/2: [commit].
 */
export async function partsOf(get: (cid: CID) => Promise<Uint8Array>, commit: CommitBlock): Promise<Array<CommitBlock & { partition: number }>> {
  if (!isParted(commit)) return [{ ...commit, partition: 0 }];
  const out: Array<CommitBlock & { partition: number }> = [];
  for (const [n, cid] of commit.parts!.entries()) {
    if (!cid) continue;
    const part = decodeBlock<PartBlock>(await get(cid));
    if (part?.type !== 'loflow/part' || part.partition !== n) throw new Error(`${cid.toString()} is not partition ${n}'s loflow/part block`);
    // Parts hold format 2 indexes; `parts` dropped so the view reads as one unpartitioned commit.
    const { parts: _p, partitioning: _q, ...rest } = commit;
    out.push({ ...rest, format: commit.crypto ? 3 : 2, heads: part.heads, counts: part.counts, through: part.through, partition: n });
  }
  return out;
}

/** Every stream named by any part of the commit, sorted. */
export async function streamsOf(get: (cid: CID) => Promise<Uint8Array>, commit: CommitBlock): Promise<string[]> {
  const names = new Set<string>();
  for (const p of await partsOf(get, commit)) for (const s of Object.keys(p.heads)) names.add(s);
  return [...names].sort();
}

/**
 * Merge per-partition lists (each already in its partition's order) into one: the head with the earliest
 * arrival time goes next, ties by partition. Each partition's own order is kept exactly (a k-way merge, not
 * a sort), which is all per-key order needs when every reducer is local.
 */
export function mergeParts<T extends { at: number }>(lists: T[][]): T[] {
  if (lists.length === 1) return lists[0];
  const pos = lists.map(() => 0);
  const out: T[] = [];
  for (;;) {
    let best = -1;
    for (let k = 0; k < lists.length; k++) {
      if (pos[k] >= lists[k].length) continue;
      if (best < 0 || lists[k][pos[k]].at < lists[best][pos[best]].at) best = k;
    }
    if (best < 0) return out;
    out.push(lists[best][pos[best]++]);
  }
}

/** What the global commit of a partitioned archive links. */
export interface GlobalCommit {
  name: string;
  pipeline: CID;
  prev: CID | null;
  partitioning: Partitioning;
  parts: Array<CID | null>;
  time?: number;
}

/**
 * Write the commit linking the parts (each durable before: its writer synced its folder), then HEAD.
 * Counts are summed over the parts, so `archive log` needs no walk of the parts.
 */
export async function writeGlobalCommit(store: FolderBlockstore, g: GlobalCommit): Promise<CID> {
  const counts: Record<string, number> = {};
  for (const cid of g.parts) {
    if (!cid) continue;
    const part = decodeBlock<PartBlock>(await store.get(cid));
    for (const [s, n] of Object.entries(part.counts)) counts[s] = (counts[s] ?? 0) + n;
  }
  const commit: CommitBlock = { type: 'loflow/commit', format: 3, name: g.name, pipeline: g.pipeline, prev: g.prev, time: g.time ?? Date.now(), heads: {}, counts, through: {}, partitioning: g.partitioning, parts: g.parts, crypto: null, erasures: [] };
  const block = await encodeBlock(commit);
  await store.put(block);
  await store.setHead(block.cid);
  return block.cid;
}

/**
 * Where partition `n`'s writer continues in the folder whose HEAD is `head`: that commit's part n. A
 * format 1/2 HEAD (one unpartitioned history) or another partition count is refused, not guessed at.
 */
export function partHeadOf(commit: CommitBlock | null, n: number, p: Partitioning, dir: string): CID | null {
  if (!commit) return null;
  if (!isParted(commit)) throw new Error(`the archive ${dir} holds an unpartitioned history (format ${commit.format ?? 1}); a pipeline with partitions.count ${p.count} needs a new archive folder (continuing it is not built yet)`);
  const q = commit.partitioning!;
  if (q.count !== p.count || q.by !== p.by) throw new Error(`the archive ${dir} was written with partitions.count ${q.count} by ${q.by}, not ${p.count} by ${p.by}: a new archive folder is needed`);
  return commit.parts![n] ?? null;
}
