// Durability modes of the Redis input log (docs/scale-out.md §4): what an acknowledged event survives is the
// Redis server's persistence setting, so loflow checks it at start instead of promising what it cannot see.
//   none        no AOF needed: an acknowledged event survives the loflow process, not Redis (demos)
//   local       appendonly yes (appendfsync everysec): survives a Redis crash/SIGKILL, not power loss (~1 s)
//   fsync       appendonly yes, appendfsync always: survives power loss of the node
//   replicated  appendonly yes and a replica; WAIT 1 before each acknowledgement and after each commit:
//               survives losing the primary if the promoted replica is one that acknowledged
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import { unavailable } from '../unavailable.js';

export const durabilities = ['none', 'local', 'fsync', 'replicated'] as const;
export type Durability = (typeof durabilities)[number];

export function parseDurability(s: string | undefined): Durability {
  const d = (s ?? 'local') as Durability;
  if (!durabilities.includes(d)) throw new Error(`unknown durability '${s}': use ${durabilities.join(', ')}`);
  return d;
}

/** How long a replica may take to acknowledge (replicated): env LOFLOW_WAIT_MS, default 1000. */
function waitMs(): number {
  const ms = Number(process.env.LOFLOW_WAIT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 1000;
}

const primaries = (redis: Redis | Cluster): Redis[] => (redis instanceof Cluster ? redis.nodes('master') : [redis]);

/**
 * Refuse to start when a primary's settings cannot give the mode's guarantee. Returns a note when the
 * settings cannot be read (CONFIG disabled, as on some managed services): then the operator's word is taken.
 */
export async function checkDurability(redis: Redis | Cluster, mode: Durability): Promise<string | null> {
  if (mode === 'none') return null;
  for (const node of primaries(redis)) {
    const where = `${node.options.host}:${node.options.port}`;
    let aof: string;
    let fsync: string;
    try {
      aof = ((await node.config('GET', 'appendonly')) as string[])[1];
      fsync = ((await node.config('GET', 'appendfsync')) as string[])[1];
    } catch (err) {
      return `cannot read the persistence settings of Redis ${where} (${(err as Error).message}): durability '${mode}' is assumed, not checked`;
    }
    if (aof !== 'yes') throw new Error(`durability '${mode}' needs appendonly yes on Redis ${where} (it has appendonly ${aof}); set it (CONFIG SET appendonly yes, and in redis.conf) or choose --durability none`);
    if (mode === 'fsync' && fsync !== 'always') throw new Error(`durability fsync needs appendfsync always on Redis ${where} (it has ${fsync})`);
    if (mode === 'replicated') {
      const info = await node.info('replication');
      const replicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
      if (replicas < 1) throw new Error(`durability replicated needs a connected replica of Redis ${where} (it has none)`);
    }
  }
  return null;
}

/**
 * WAIT 1 on the primary that took the write: on a cluster, the primary serving `key`'s slot in ioredis's
 * slot table (the write just went there, following any MOVED), so a primary left without a replica after
 * a failover refuses only its own slots' acknowledgements, not the whole cluster's. Without `key`: every
 * primary (WAIT names no key; a primary without new writes answers at once).
 * Fewer than one replica in time -> UNAVAILABLE: the client is not acknowledged and re-sends (a producer's
 * re-send is dropped as a duplicate if it did land).
 */
export async function waitForReplica(redis: Redis | Cluster, key?: string): Promise<void> {
  const ms = waitMs();
  const got = await Promise.all(primariesOf(redis, key).map((n) => n.wait(1, ms)));
  if (got.some((n) => n < 1)) throw unavailable('redis', new Error(`no replica acknowledged the write within ${ms} ms (durability replicated)`));
}

function primariesOf(redis: Redis | Cluster, key: string | undefined): Redis[] {
  if (!(redis instanceof Cluster) || key === undefined) return primaries(redis);
  const slot = calculateSlot(key);
  const owner = redis.slots[slot]?.[0];
  const node = owner === undefined ? undefined : redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  // A table naming a primary that is gone (a failover under way): which node has the write is unknown, so
  // nothing can be confirmed; the caller answers 503 and the client's retry finds the refreshed table.
  if (!node) throw unavailable('redis', new Error(`the primary of slot ${slot} is not known yet (a failover under way?): the write cannot be confirmed replicated`));
  return [node];
}
