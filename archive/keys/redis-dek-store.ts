// Wrapped data keys in Redis: the hash lf:{<pipeline>}:dek (one partition; lf:{<pipeline>:p<N>}:dek per
// partition), field kid -> JSON {kid, kek, wrapped}. HSETNX makes the first writer win. Redis persistence
// (AOF/RDB and their backups) then holds wrapped keys: an erasure is final once backups older than it are gone.
import { Cluster, Redis } from 'ioredis';
import { partitionTag } from '../../engine/state/key-layout.js';
import { checkKid, decodeWrapped, encodeWrapped, type DekStore, type WrappedDek } from './dek-store.js';

export const dekKey = (pipeline: string, partition = 0, count = 1) => `lf:{${partitionTag(pipeline, partition, count)}}:dek`;

export class RedisDekStore implements DekStore {
  readonly key: string;
  constructor(
    readonly redis: Redis | Cluster,
    pipeline: string,
    private readonly owned = false,
    partition?: { n: number; count: number },
  ) {
    this.key = dekKey(pipeline, partition?.n, partition?.count);
  }

  /** A connection of its own, with the state store's conventions (no offline queue, bounded timeouts). */
  static async connect(url: string, pipeline: string): Promise<RedisDekStore> {
    const ms = Number(process.env.LOFLOW_REDIS_TIMEOUT_MS);
    const timeout = Number.isFinite(ms) && ms > 0 ? ms : 2000;
    const redisOptions = { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false, commandTimeout: timeout, connectTimeout: timeout };
    let client: Redis | Cluster;
    if (url.startsWith('redis-cluster://')) {
      const nodes = url.slice('redis-cluster://'.length).split(',').map((hp) => ({ host: hp.split(':')[0], port: Number(hp.split(':')[1]) }));
      client = new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, redisOptions });
    } else if (url.startsWith('redis://') || url.startsWith('rediss://')) client = new Redis(url, redisOptions);
    else throw new Error(`'${url}' is not a Redis URL (redis://host:port or redis-cluster://host:port,...)`);
    client.on('error', () => {
      /* reported through failing commands */
    });
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw new Error(`the key store ${url} is unreachable: ${(err as Error).message}`);
    }
    return new RedisDekStore(client, pipeline, true);
  }

  async getWrapped(kid: string): Promise<WrappedDek | undefined> {
    const v = await this.redis.hget(this.key, checkKid(kid));
    return v === null ? undefined : decodeWrapped(v);
  }

  async putIfAbsent(kid: string, wrapped: WrappedDek): Promise<WrappedDek> {
    const text = encodeWrapped(checkKid(kid), wrapped);
    if ((await this.redis.hsetnx(this.key, kid, text)) === 1) return wrapped;
    const stored = await this.getWrapped(kid);
    if (!stored) throw new Error(`the key store holds an unreadable data key for ${kid}`);
    return stored;
  }

  async delete(kids: string[]): Promise<string[]> {
    if (kids.length === 0) return [];
    kids.forEach(checkKid);
    const p = this.redis.pipeline();
    for (const k of kids) p.hdel(this.key, k);
    const answers = (await p.exec()) ?? [];
    return kids.filter((_, i) => {
      const [err, n] = answers[i] ?? [];
      if (err) throw err;
      return n === 1;
    });
  }

  async kids(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, fields] = await this.redis.hscan(this.key, cursor, 'COUNT', 1000);
      for (let i = 0; i < fields.length; i += 2) if (fields[i].startsWith(prefix)) out.push(fields[i]);
      cursor = next;
    } while (cursor !== '0');
    return [...new Set(out)].sort();
  }

  async close(): Promise<void> {
    if (this.owned) this.redis.disconnect();
  }
}
