// Reducer state in Redis or Redis Cluster (ioredis). One MGET per load, one MULTI/EXEC per commit (states,
// their composite-key index and offset together), never a round trip per event. Unreachable Redis -> errors
// with code 'UNAVAILABLE' (the engine retries the batch; the server answers 503), never a lost or
// double-applied batch.
import { Cluster, Redis } from 'ioredis';
import type { Commit, Json, LastPipeline, OutboxEntry, StateRef, StateStore } from '../types.js';
import { unavailable } from '../unavailable.js';
import { clockKey, offsetKey, outboxKey, parseStateKey, partIndexKey, partIndexPattern, pipelineKey, reducerPattern, stateKey } from './key-layout.js';

/** How long one Redis command may take before it fails as UNAVAILABLE: env LOFLOW_REDIS_TIMEOUT_MS, default 2 s. */
function redisTimeoutMs(): number {
  const ms = Number(process.env.LOFLOW_REDIS_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 2000;
}

export class RedisStateStore implements StateStore {
  readonly kind: string;
  private constructor(private readonly redis: Redis | Cluster, kind: string) {
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

  async commit(c: Commit): Promise<void> {
    const tx = this.redis.multi();
    if (c.writes.length) {
      const args: string[] = [];
      for (const [ref, state] of c.writes) args.push(stateKey(ref), JSON.stringify(state));
      tx.mset(...args);
      // Composite keys are indexed by each part (see keysWithPart), in the same transaction as the states.
      const index = new Map<string, Array<string | number>>();
      for (const [ref] of c.writes) {
        if (!ref.key.includes('|')) continue;
        for (const part of new Set(ref.key.split('|'))) {
          const k = partIndexKey(ref.pipeline, ref.reducer, ref.version, part);
          const members = index.get(k);
          if (members) members.push(c.offset, ref.key);
          else index.set(k, [c.offset, ref.key]);
        }
      }
      for (const [k, members] of index) tx.zadd(k, ...members);
    }
    tx.set(offsetKey(c.pipeline), String(c.offset));
    if (c.clock !== undefined) tx.set(clockKey(c.pipeline), String(c.clock));
    // The outbox rides in the same transaction: derived events exist exactly when the states that made them do.
    if (c.outboxDone) tx.ltrim(outboxKey(c.pipeline), c.outboxDone, -1);
    if (c.outbox) tx.rpush(outboxKey(c.pipeline), JSON.stringify(c.outbox));
    await this.exec(tx, 'transaction');
  }

  /** A Redis call: an unreachable Redis is UNAVAILABLE (the engine retries, the server answers 503). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable('redis', err);
    }
  }

  /** Run a MULTI or a pipeline: every command's answer, or UNAVAILABLE when any of them failed. */
  private async exec(chain: { exec(): Promise<Array<[Error | null, unknown]> | null> }, what: string): Promise<Array<[Error | null, unknown]>> {
    const result = await this.call(() => chain.exec());
    const failed = result?.find(([e]) => e);
    if (!result || failed) throw unavailable('redis', failed?.[0] ?? new Error(`${what} aborted`));
    return result;
  }

  private async number(key: string): Promise<number> {
    return Number((await this.call(() => this.redis.get(key))) ?? 0);
  }

  clock(pipeline: string): Promise<number> {
    return this.number(clockKey(pipeline));
  }

  async keysWithPart(pipeline: string, queries: ReadonlyArray<{ reducer: string; version: string; part: string }>): Promise<string[][]> {
    if (queries.length === 0) return [];
    // One pipeline of ZRANGEs: every key is in the pipeline's slot, so this is one round trip on a cluster too.
    const p = this.redis.pipeline();
    for (const q of queries) p.zrange(partIndexKey(pipeline, q.reducer, q.version, q.part), '0', '-1');
    return (await this.exec(p, 'pipeline')).map(([, keys]) => keys as string[]);
  }

  offset(pipeline: string): Promise<number> {
    return this.number(offsetKey(pipeline));
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
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
