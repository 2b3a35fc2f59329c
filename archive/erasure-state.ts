// The writer's erasures in force, kept in <archive>/ERASURES (pseudonyms and CIDs only, never an id) so a
// restart knows them before any re-feed: `pending` are erasure blocks the next commit links, `active` maps a
// pseudonym to its erase point (events of that learner with a lower origin offset are dropped, as a re-feed
// after a crash would otherwise archive them again under a new key).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CID } from './blocks.js';
import { syncDir, writeDurably } from './blockstore.js';

export interface ErasureState {
  pending: CID[];
  active: Map<string, number>;
}

const FILE = 'ERASURES';

export function readErasureState(dir: string): ErasureState {
  let text: string;
  try {
    text = readFileSync(join(dir, FILE), 'utf8');
  } catch {
    return { pending: [], active: new Map() };
  }
  try {
    const v = JSON.parse(text) as { pending: string[]; active: Record<string, number> };
    return { pending: v.pending.map((c) => CID.parse(c)), active: new Map(Object.entries(v.active)) };
  } catch (err) {
    throw new Error(`${join(dir, FILE)} is unreadable (${(err as Error).message}): it lists erasures in force; restore it or remove it knowingly`);
  }
}

export async function writeErasureState(dir: string, s: ErasureState, durable = true): Promise<void> {
  const text = JSON.stringify({ pending: s.pending.map(String), active: Object.fromEntries([...s.active].sort(([a], [b]) => (a < b ? -1 : 1))) });
  await writeDurably(join(dir, FILE), new TextEncoder().encode(text), durable);
  if (durable) await syncDir(dir);
}
