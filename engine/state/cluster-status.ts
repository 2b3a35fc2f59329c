// What `loflow cluster status` reads (docs/scale-out.md §14 step 5): per partition of a pipeline, the node
// holding its slot, its lease, committed cursor, log end, outbox and dead letters. Read-only (no script, no
// write, no lease taken) and pipelined: one round trip to learn the slots on a cluster, then one per node
// for every partition it holds, never a call per partition per field.
import { Cluster, Redis } from 'ioredis';
import { partitionStoreName } from '../partition.js';
import { curKey, dlKey, fwdKey, inKey, leaseKey, legacyOffsetKey, membersKey, outboxKey, workerKey } from './key-layout.js';

export type LeaseState = 'held' | 'expired' | 'released' | 'none';

export interface PartitionStatus {
  partition: number;
  /** The store name, the hash tag of its keys. */
  tag: string;
  /** host:port of the primary that holds the tag's slot. */
  node: string;
  slot: number | null;
  lease: LeaseState;
  /** Holder (held), last holder (expired), null (released, none). */
  owner: string | null;
  epoch: number | null;
  /** ms until the lease expires (held); negative: how long ago it expired (expired); null otherwise. */
  leaseLeftMs: number | null;
  committed: number;
  /** Last appended offset in the Redis input log (cur.end); null when this partition has no Redis log. */
  logEnd: number | null;
  /** logEnd − committed; null without a Redis log. */
  lag: number | null;
  /** Entries still in lf:T:in (trimmed below the committed cursor). */
  logLength: number;
  outbox: number;
  deadLetters: number;
  /** Exchange edges: entries in fwd not yet forwarded (docs/scale-out.md §6). */
  forwardPending: number;
  /** ms since the last commit by Redis TIME, null when no commit recorded its time (before this version). */
  lastCommitAgeMs: number | null;
  /** Why this partition could not be read (its node did not answer), else absent. */
  error?: string;
}

export interface NodeStatus {
  address: string;
  partitions: number;
  /** What the node's persistence settings give (durability.ts): none, local, fsync; unknown when CONFIG is disabled. */
  durability: string;
  replicas: number | null;
  error?: string;
}

/** A worker in lf:{<pl>}:members (serve --role worker), live or expired less than a minute ago. */
export interface WorkerStatus {
  id: string;
  live: boolean;
  /** ms until its heartbeat expires (live), or since it expired (negative). */
  heartbeatLeftMs: number;
  host: string | null;
  pid: number | null;
  /** Partitions it holds by the leases read here. */
  holds: number;
}

export interface ClusterStatus {
  pipeline: string;
  /** Workers by their heartbeats (Redis TIME), with how many partitions each holds. */
  workers: WorkerStatus[];
  partitions: number;
  by: string | null;
  kind: 'redis' | 'redis-cluster';
  /** Key layout found: 2 (cur hashes), 1 (only layout 1's offset string: not migrated yet), null (no records). */
  layout: 1 | 2 | null;
  /** The weakest of the nodes' durability. */
  durability: string;
  nodes: NodeStatus[];
  rows: PartitionStatus[];
}

type Reply = [Error | null, unknown];
const address = (r: Redis) => `${r.options.host}:${r.options.port}`;
/** Per partition: lease, cur, XLEN in, LLEN outbox, XLEN dl, XLEN fwd. */
const PER_TAG = 6;

/** Which primary holds each tag's slot: CLUSTER SLOTS and one CLUSTER KEYSLOT per tag, in one round trip. */
async function placeOnCluster(cluster: Cluster, tags: string[]): Promise<Array<{ node: string; slot: number }>> {
  const any = cluster.nodes('master')[0];
  if (!any) throw new Error('no primary of the cluster is connected');
  const p = any.pipeline().cluster('SLOTS');
  for (const t of tags) p.cluster('KEYSLOT', curKey(t));
  const replies = (await p.exec()) as Reply[];
  const failed = replies.find(([e]) => e);
  if (failed) throw failed[0]!;
  const ranges = replies[0][1] as Array<[number, number, [string, number]]>;
  return replies.slice(1).map(([, s]) => {
    const slot = Number(s);
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    return { slot, node: range ? `${range[2][0]}:${range[2][1]}` : 'unassigned' };
  });
}

function durabilityOf(aof: Reply, fsync: Reply): string {
  if (aof[0] || fsync[0]) return 'unknown';
  if ((aof[1] as string[])[1] !== 'yes') return 'none';
  return (fsync[1] as string[])[1] === 'always' ? 'fsync' : 'local';
}

const weakest = (ds: string[]) => ['unknown', 'none', 'local', 'fsync'].find((d) => ds.includes(d)) ?? 'unknown';

/** Read one node's partitions in one pipeline (with its TIME, so lease and commit ages use Redis's clock). */
async function readNode(client: Redis, rows: PartitionStatus[], pipeline: string, withLegacy: boolean): Promise<{ node: Omit<NodeStatus, 'address' | 'partitions'>; legacy: boolean }> {
  const p = client.pipeline().time().config('GET', 'appendonly').config('GET', 'appendfsync').info('replication');
  for (const r of rows) p.hgetall(leaseKey(r.tag)).hgetall(curKey(r.tag)).xlen(inKey(r.tag)).llen(outboxKey(r.tag)).xlen(dlKey(r.tag)).xlen(fwdKey(r.tag));
  if (withLegacy) p.get(legacyOffsetKey(pipeline));
  const replies = (await p.exec()) as Reply[];
  if (replies[0][0]) throw replies[0][0];
  const [sec, micros] = replies[0][1] as [string, string];
  const now = Number(sec) * 1000 + Math.floor(Number(micros) / 1000);
  rows.forEach((row, i) => {
    const [lease, cur, inLen, outbox, dl, fwd] = replies.slice(4 + i * PER_TAG, 4 + (i + 1) * PER_TAG);
    const bad = [lease, cur, inLen, outbox, dl, fwd].find(([e]) => e);
    if (bad) {
      row.error = (bad[0] as Error).message;
      return;
    }
    fillRow(row, lease[1] as Record<string, string>, cur[1] as Record<string, string>, now);
    row.logLength = Number(inLen[1]);
    row.outbox = Number(outbox[1]);
    row.deadLetters = Number(dl[1]);
    row.forwardPending = Number(fwd[1]);
  });
  const info = replies[3][0] ? '' : String(replies[3][1]);
  const replicas = /connected_slaves:(\d+)/.exec(info);
  // Layout 1 (a store not taken over since): the cursor is still the offset string; the next start migrates it.
  const old = withLegacy ? (replies[replies.length - 1][1] as string | null) : null;
  const legacy = old !== null && rows[0].epoch === null && rows[0].committed === 0 && !rows[0].error;
  if (legacy) rows[0].committed = Number(old);
  return { node: { durability: durabilityOf(replies[1], replies[2]), replicas: replicas ? Number(replicas[1]) : null }, legacy };
}

function fillRow(row: PartitionStatus, lease: Record<string, string>, cur: Record<string, string>, now: number): void {
  if (lease.epoch !== undefined) {
    row.epoch = Number(lease.epoch);
    const until = Number(lease.until ?? 0);
    if (!lease.owner) row.lease = 'released';
    else {
      row.owner = lease.owner;
      row.lease = until > now ? 'held' : 'expired';
      row.leaseLeftMs = until - now;
    }
  }
  row.committed = Number(cur.in ?? 0);
  if (cur.end !== undefined) {
    row.logEnd = Math.max(Number(cur.end), row.committed);
    row.lag = row.logEnd - row.committed;
  }
  if (cur.at !== undefined) row.lastCommitAgeMs = Math.max(0, now - Number(cur.at));
}

/** Gather the status of `pipeline`'s P partitions from a Redis or Redis Cluster client. */
export async function clusterStatus(redis: Redis | Cluster, pipeline: { name: string; partitions?: { count: number; by: string | null } }): Promise<ClusterStatus> {
  const count = pipeline.partitions?.count ?? 1;
  const tags = Array.from({ length: count }, (_, n) => partitionStoreName(pipeline.name, n, count));
  const cluster = redis instanceof Cluster ? redis : null;
  const placed = cluster ? await placeOnCluster(cluster, tags) : tags.map(() => ({ node: address(redis as Redis), slot: null }));
  const rows: PartitionStatus[] = tags.map((tag, partition) => ({
    partition, tag, node: placed[partition].node, slot: placed[partition].slot,
    lease: 'none', owner: null, epoch: null, leaseLeftMs: null, committed: 0, logEnd: null, lag: null, logLength: 0, outbox: 0, deadLetters: 0, forwardPending: 0, lastCommitAgeMs: null,
  }));
  const byNode = new Map<string, PartitionStatus[]>();
  for (const r of rows) byNode.set(r.node, [...(byNode.get(r.node) ?? []), r]);
  const known = new Map((cluster ? cluster.nodes('master') : [redis as Redis]).map((n) => [address(n), n] as const));
  let legacy = false;
  const nodes = await Promise.all(
    [...byNode].map(async ([addr, mine]): Promise<NodeStatus> => {
      // A primary the client has not connected to yet (a slot moved meanwhile): a short-lived plain connection.
      const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
      const own = known.get(addr);
      const client = own ?? new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, commandTimeout: 5000 });
      try {
        const r = await readNode(client, mine, pipeline.name, count === 1);
        legacy ||= r.legacy;
        return { address: addr, partitions: mine.length, ...r.node };
      } catch (err) {
        const message = (err as Error).message;
        for (const row of mine) row.error = message;
        return { address: addr, partitions: mine.length, durability: 'unknown', replicas: null, error: message };
      } finally {
        if (!own) client.disconnect();
      }
    }),
  );
  const layout = legacy ? 1 : rows.some((r) => r.committed > 0 || r.epoch !== null) ? 2 : null;
  const workers = await readWorkers(redis, pipeline.name, rows);
  return { pipeline: pipeline.name, workers, partitions: count, by: pipeline.partitions?.by ?? null, kind: cluster ? 'redis-cluster' : 'redis', layout, durability: weakest(nodes.map((n) => n.durability)), nodes, rows };
}

/** The members zset and each member's record (one slot: the pipeline's tag), with the holdings from `rows`. */
async function readWorkers(redis: Redis | Cluster, pipeline: string, rows: PartitionStatus[]): Promise<WorkerStatus[]> {
  try {
    const [time, members] = await Promise.all([redis.time(), redis.zrange(membersKey(pipeline), '0', '-1', 'WITHSCORES')]);
    const [sec, micros] = time as unknown as [string, string];
    const now = Number(sec) * 1000 + Math.floor(Number(micros) / 1000);
    const out: WorkerStatus[] = [];
    for (let i = 0; i < members.length; i += 2) {
      const id = members[i];
      const rec = await redis.hgetall(workerKey(pipeline, id));
      const left = Number(members[i + 1]) - now;
      out.push({ id, live: left >= 0, heartbeatLeftMs: left, host: rec.host ?? null, pid: rec.pid ? Number(rec.pid) : null, holds: rows.filter((r) => r.lease === 'held' && r.owner === id).length });
    }
    return out.sort((a, b) => Number(b.live) - Number(a.live) || a.id.localeCompare(b.id));
  } catch {
    return []; // the members' slot did not answer: the partition rows say what they can
  }
}
