// One ingest.lua call: a partition's entries appended to its input stream with dense ids, re-sends dropped
// against the producers' high-water marks (same slot), and, `replicated`, a WAIT for a replica before the
// answer counts. The Redis input log (RedisInputLog) and the ingest node (RedisAppender) both append this way.
import type { Cluster, Redis } from 'ioredis';
import { waitForReplica, type Durability } from '../state/durability.js';
import { curKey, inKey, prodKey } from '../state/key-layout.js';
import { runScript } from '../state/run-script.js';
import type { LoEvent } from '../types.js';
import { unavailable } from '../unavailable.js';
import { takeRawJson } from './raw-json.js';

export type IngestEntry = { stream: string; event: LoEvent; at: number; producer?: string; seq?: number };

/** The first offset given and, per entry, '1' appended or '0' a re-send dropped. */
export async function ingestCall(redis: Redis | Cluster, tag: string, durability: Durability, entries: readonly IngestEntry[]): Promise<{ first: number; mask: string }> {
  const args: Array<string | number> = [entries.length];
  for (const e of entries) {
    const ev = e.event as unknown;
    // The event's own text when the HTTP parser kept it (no re-stringify).
    const text = (ev !== null && typeof ev === 'object' ? takeRawJson(ev) : undefined) ?? JSON.stringify(ev);
    args.push(e.stream, e.at, e.producer ?? '', e.producer === undefined ? '' : String(e.seq), text);
  }
  try {
    const r = (await runScript(redis, 'lfIngest', [inKey(tag), prodKey(tag), curKey(tag)], args)) as string[];
    if (durability === 'replicated') await waitForReplica(redis, inKey(tag));
    return { first: Number(r[0]), mask: r[2] };
  } catch (err) {
    throw (err as { code?: string }).code === 'UNAVAILABLE' ? err : unavailable('redis', err);
  }
}
