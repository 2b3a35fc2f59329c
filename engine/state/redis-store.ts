// Reducer state in Redis or Redis Cluster (ioredis), key layout 2 (key-layout.ts). One MGET per load, one
// commit.lua per commit (states, their composite-key index, cursor, clock, outbox and dead letters together,
// fenced by the partition's lease), never a round trip per event. Unreachable Redis -> errors with code
// 'UNAVAILABLE' (the engine retries the batch; the server answers 503), never a lost or double-applied batch.
import { Cluster, Redis } from 'ioredis';
import type { Commit, CommitAnswer, Json, LastPipeline, LearnerErasure, OutboxEntry, StateRef, StateStore, StoreErasureCounts } from '../types.js';
import { eraseInRedis } from './redis-erase.js';
import { unavailable } from '../unavailable.js';
import { commitArgs } from './commit-args.js';
import { waitForReplica, type Durability } from './durability.js';
import { curKey, legacyClockKey, legacyOffsetKey, outboxKey, parseStateKey, partIndexKey, partIndexPattern, pipelineKey, reducerPattern, stateKey } from './key-layout.js';
import { Lease, newWorkerId } from './lease.js';
import { RedisExchange } from './redis-exchange.js';
import { partitionStoreName } from '../partition.js';
import { runScript } from './run-script.js';

/** How long one Redis command may take before it fails as UNAVAILABLE: env LOFLOW_REDIS_TIMEOUT_MS, default 2 s. */
function redisTimeoutMs(): number {
  const ms = Number(process.env.LOFLOW_REDIS_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 2000;
}

export class RedisStateStore implements StateStore {
  readonly kind: string;
  /** Set by the Redis input log (--checkpoint redis): `replicated` waits for a replica after each commit. */
  durability: Durability = 'local';
  /** Commit answers, for metrics: ok, done (a lost reply found applied), fenced, conflict. */
  readonly answers = { ok: 0, done: 0, fenced: 0, conflict: 0 };
  /** Each commit appends its changed keys to the partition's chg stream (dashboard nodes, docs/scale-out.md §7). */
  readonly publishesChanges = true;
  private readonly leases = new Map<string, Lease>();
  /** This store's worker id in the leases it takes (two stores are two owners, even in one process). */
  owner = newWorkerId();
  /**
   * Set by a worker (engine/cluster/worker.ts), which takes and gives up partitions itself: a commit without a
   * held lease is then sent with the last token (FENCED) instead of taking the lease, which would steal it.
   */
  manualLeases = false;
  private constructor(
    readonly redis: Redis | Cluster,
    kind: string,
  ) {
    this.kind = kind;
  }

  /** `redis://host:port[/db]` or `redis-cluster://host:port,host:port,...`. */
  static async connect(url: string): Promise<RedisStateStore> {
    // No offline queue: while Redis is down, commands fail at once (UNAVAILABLE) instead of piling up. A
    // Redis that is up but does not answer (frozen, overloaded, a partition that keeps the socket open)
    // fails each command after commandTimeout, so no caller hangs on it. A timed-out command stays queued
    // on the same connection: a MULTI may still be applied later, and an offset read sent after it is
    // answered after it (the engine reads the offset before retrying a failed commit).
    const timeout = redisTimeoutMs();
    const opts = { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false, commandTimeout: timeout, connectTimeout: timeout, retryStrategy: (n: number) => Math.min(n * 100, 2000) };
    let client: Redis | Cluster;
    let kind: string;
    if (url.startsWith('redis-cluster://')) {
      const nodes = url.slice('redis-cluster://'.length).split(',').map((hp) => {
        const [host, port] = hp.split(':');
        return { host, port: Number(port) };
      });
      client = new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1, commandTimeout: timeout, connectTimeout: timeout }, clusterRetryStrategy: (n: number) => Math.min(n * 100, 2000) });
      kind = 'redis-cluster';
    } else {
      client = new Redis(url, opts);
      kind = 'redis';
    }
    client.on('error', () => {
      /* reported through failing commands (UNAVAILABLE); reconnection is automatic */
    });
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw unavailable('redis', err);
    }
    return new RedisStateStore(client, kind);
  }

  async load(refs: readonly StateRef[]): Promise<Array<Json | undefined>> {
    if (refs.length === 0) return [];
    const values = await this.call(() => this.redis.mget(...refs.map(stateKey)));
    return values.map((v) => (v === null ? undefined : (JSON.parse(v) as Json)));
  }

  /**
   * Own the pipeline's partition: migrate a layout-1 cursor, then take the lease (waiting out a crashed
   * predecessor's). Idempotent while the lease is ours.
   */
  async acquire(pipeline: string): Promise<{ epoch: number }> {
    let lease = this.leases.get(pipeline);
    if (!lease) this.leases.set(pipeline, (lease = new Lease(this.redis, pipeline, this.owner)));
    await this.call(() => runScript(this.redis, 'lfMigrate', [curKey(pipeline), legacyOffsetKey(pipeline), legacyClockKey(pipeline)], []));
    const held = await this.call(() => lease.acquire());
    return { epoch: held.epoch };
  }

  /** The lease object of a partition (created on first use; not acquired). */
  lease(tag: string): Lease {
    let lease = this.leases.get(tag);
    if (!lease) this.leases.set(tag, (lease = new Lease(this.redis, tag, this.owner)));
    return lease;
  }

  /** One acquisition attempt (a worker's tick): the epoch and committed cursor, or the holder. Migrates layout 1 first. */
  async tryAcquire(tag: string): Promise<{ epoch: number; committed: number; freeForMs: number } | { owner: string; leftMs: number }> {
    const lease = this.lease(tag);
    await this.call(() => runScript(this.redis, 'lfMigrate', [curKey(tag), legacyOffsetKey(tag), legacyClockKey(tag)], []));
    const r = await this.call(() => lease.tryAcquire());
    return 'token' in r ? { epoch: r.epoch, committed: r.committed, freeForMs: r.freeForMs } : r;
  }

  /** Give a partition up: free its lease in Redis (when still ours) or, `local`, only forget it here (lost or expired). */
  async releaseLease(tag: string, local = false): Promise<void> {
    const lease = this.leases.get(tag);
    if (!lease) return;
    if (local) lease.drop();
    else await lease.release();
  }

  async commit(c: Commit): Promise<CommitAnswer> {
    // A maintenance commit (rebuild, fixtures) takes the lease too: it must not write under a running server.
    const lease = this.leases.get(c.pipeline);
    let token = lease?.held?.token;
    if (!token && this.manualLeases) {
      // Given up meanwhile (a late batch of a zombie): the last token, so Redis answers with the holder.
      token = lease?.lastToken ?? undefined;
      if (!token) throw Object.assign(new Error(`fenced: this worker holds no lease of {${c.pipeline}}; nothing of the batch ${c.from ?? ''}..${c.offset} was written`), { code: 'FENCED' });
    }
    if (!token) {
      await this.acquire(c.pipeline);
      token = this.leases.get(c.pipeline)!.held!.token;
    }
    const held = { token, epoch: lease?.held?.epoch ?? this.leases.get(c.pipeline)?.held?.epoch ?? 0 };
    const { keys, args } = commitArgs(c, held.token);
    const r = (await this.call(() => runScript(this.redis, 'lfCommit', keys, args))) as string[];
    if (r[0] === 'FENCED') {
      this.answers.fenced++;
      this.leases.get(c.pipeline)?.drop();
      throw Object.assign(new Error(`fenced: the lease of {${c.pipeline}} is held by ${r[1] || 'nobody'} (epoch ${r[2]}), not by this process (epoch ${held.epoch}); nothing of the batch ${c.from ?? ''}..${c.offset} was written`), { code: 'FENCED' });
    }
    if (r[0] === 'CONFLICT') {
      this.answers.conflict++;
      const where = r[2] ? `its ${r[2]} cursor moved (the store has ${r[3]})` : `it was computed from offset ${c.from} but the store is at ${r[1]}`;
      throw Object.assign(new Error(`commit conflict on {${c.pipeline}}: the batch ${c.from}..${c.offset}: ${where}; nothing was written`), { code: 'CONFLICT' });
    }
    if (r[0] === 'DIVERGED') {
      // The same answer as a moved base: the consumer drops the batch and its ownership, and whoever takes the
      // partition again reads the log this node holds.
      this.answers.conflict++;
      throw Object.assign(new Error(`commit refused on {${c.pipeline}}: the batch ${c.from}..${c.offset} was read from input entries this Redis node does not hold (at offset ${c.check?.offset} it has ${r[2] === '-' ? 'no entry' : `one that arrived at ${r[2]}`}, the batch read ${c.check?.at ?? 'none'}): a failover dropped them; nothing was written`), { code: 'CONFLICT' });
    }
    // replicated: the batch's effects are acknowledged only once a replica has them (docs/scale-out.md §4).
    if (this.durability === 'replicated') await this.call(() => waitForReplica(this.redis, keys[0]));
    const answer = r[0] === 'DONE' ? 'done' : 'ok';
    this.answers[answer]++;
    return answer;
  }

  /** Exchange edges (docs/scale-out.md §6): forwards fenced by this store's lease of the partition. */
  exchangeLink(pipeline: string, n: number, count: number): RedisExchange {
    const tag = partitionStoreName(pipeline, n, count);
    return new RedisExchange(this.redis, pipeline, n, count, () => this.leases.get(tag)?.held?.token, this.durability);
  }

  /** Failed lease renewals of this store's leases so far (loflow_lease_renew_failures_total). */
  leaseRenewFailures(): number {
    let n = 0;
    for (const l of this.leases.values()) n += l.renewFailures;
    return n;
  }

  /** A Redis call: an unreachable Redis is UNAVAILABLE (the engine retries, the server answers 503). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw (err as { code?: string }).code === 'UNAVAILABLE' ? err : unavailable('redis', err);
    }
  }

  /** Run a MULTI or a pipeline: every command's answer, or UNAVAILABLE when any of them failed. */
  private async exec(chain: { exec(): Promise<Array<[Error | null, unknown]> | null> }, what: string): Promise<Array<[Error | null, unknown]>> {
    const result = await this.call(() => chain.exec());
    const failed = result?.find(([e]) => e);
    if (!result || failed) throw unavailable('redis', failed?.[0] ?? new Error(`${what} aborted`));
    return result;
  }

  /** A cursor field, or layout 1's string when the store was not migrated yet (read-only callers: state ls). */
  private async cursor(pipeline: string, field: 'in' | 'clock', legacy: string): Promise<number> {
    const [[, v], [, old]] = await this.exec(this.redis.pipeline().hget(curKey(pipeline), field).get(legacy), 'pipeline');
    return Number(v ?? old ?? 0);
  }

  clock(pipeline: string): Promise<number> {
    return this.cursor(pipeline, 'clock', legacyClockKey(pipeline));
  }

  async keysWithPart(pipeline: string, queries: ReadonlyArray<{ reducer: string; version: string; part: string }>): Promise<string[][]> {
    if (queries.length === 0) return [];
    // One pipeline of ZRANGEs: every key is in the pipeline's slot, so this is one round trip on a cluster too.
    const p = this.redis.pipeline();
    for (const q of queries) p.zrange(partIndexKey(pipeline, q.reducer, q.version, q.part), '0', '-1');
    return (await this.exec(p, 'pipeline')).map(([, keys]) => keys as string[]);
  }

  offset(pipeline: string): Promise<number> {
    return this.cursor(pipeline, 'in', legacyOffsetKey(pipeline));
  }

  async outbox(pipeline: string): Promise<OutboxEntry[]> {
    const items = await this.call(() => this.redis.lrange(outboxKey(pipeline), 0, -1));
    return items.map((i) => JSON.parse(i) as OutboxEntry);
  }

  private async keys(pattern: string): Promise<string[]> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    const out: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        out.push(...batch);
      } while (cursor !== '0');
    }
    return out;
  }

  async *scan(pipeline: string, reducer?: string): AsyncIterable<[StateRef, Json]> {
    const keys = await this.keys(reducerPattern(pipeline, reducer));
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const values = await this.redis.mget(...chunk);
      for (let j = 0; j < chunk.length; j++) {
        const ref = parseStateKey(chunk[j]);
        if (ref && values[j] !== null) yield [ref, JSON.parse(values[j]!) as Json];
      }
    }
  }

  async drop(pipeline: string, reducer: string, version?: string): Promise<number> {
    const keys = await this.keys(reducerPattern(pipeline, reducer, version));
    const indexes = await this.keys(partIndexPattern(pipeline, reducer, version));
    const all = [...keys, ...indexes];
    for (let i = 0; i < all.length; i += 500) await this.redis.del(...all.slice(i, i + 500));
    return keys.length;
  }

  /** `loflow erase` (redis-erase.ts), under this store's lease: taken here when no engine took it (the CLI). */
  async eraseLearner(pipeline: string, who: LearnerErasure, dryRun: boolean): Promise<StoreErasureCounts> {
    if (!this.leases.get(pipeline)?.held) await this.acquire(pipeline);
    const token = this.leases.get(pipeline)!.held!.token;
    try {
      return await eraseInRedis({ redis: this.redis, pipeline, token, keys: (p) => this.keys(p) }, who, dryRun);
    } catch (err) {
      throw ['FENCED', 'UNAVAILABLE'].includes((err as { code?: string }).code ?? '') ? err : unavailable('redis', err);
    }
  }

  async versions(pipeline: string): Promise<Array<{ reducer: string; version: string; keys: number }>> {
    const keys = await this.call(() => this.keys(reducerPattern(pipeline)));
    const counts = new Map<string, { reducer: string; version: string; keys: number }>();
    for (const k of keys) {
      const ref = parseStateKey(k);
      if (!ref) continue;
      const id = `${ref.reducer}:${ref.version}`;
      const row = counts.get(id) ?? { reducer: ref.reducer, version: ref.version, keys: 0 };
      row.keys++;
      counts.set(id, row);
    }
    return [...counts.values()];
  }

  async lastPipeline(pipeline: string): Promise<LastPipeline | undefined> {
    const v = await this.call(() => this.redis.get(pipelineKey(pipeline)));
    if (v === null) return undefined;
    try {
      return JSON.parse(v) as LastPipeline;
    } catch {
      return undefined; // not a record this version wrote: only the field-level plan is lost
    }
  }

  async saveLastPipeline(pipeline: string, last: LastPipeline): Promise<void> {
    await this.call(() => this.redis.set(pipelineKey(pipeline), JSON.stringify({ file: last.file, text: last.text })));
  }

  async close(): Promise<void> {
    await Promise.all([...this.leases.values()].map((l) => l.release()));
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
