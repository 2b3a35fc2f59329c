// Pick where sign-in sessions live: `memory`, or a Redis URL; by default the state store's Redis (a server
// whose states are in Redis is usually one of several, or must survive a restart without signing anyone out).
import { RedisStateStore } from '../state/redis-store.js';
import { RedisSessionStore } from './redis-sessions.js';
import { MemorySessionStore, type SessionStore } from './sessions.js';

const isRedis = (url: string | undefined): url is string => !!url && /^(redis|rediss|redis-cluster):\/\//.test(url);

export async function openSessionStore(spec: unknown, stateUrl: string | undefined, pipeline: string, ttlMs = 8 * 3600_000): Promise<SessionStore> {
  const url = typeof spec === 'string' ? spec : isRedis(stateUrl) ? stateUrl : 'memory';
  if (url === 'memory') return new MemorySessionStore(ttlMs);
  if (!isRedis(url)) throw new Error(`--sessions takes memory, redis://host:port or redis-cluster://host:port,..., not '${url}'`);
  // Its own connection (the state store's is busy with commits); the same timeouts and no offline queue.
  const conn = await RedisStateStore.connect(url);
  return new RedisSessionStore(conn.redis, ttlMs, pipeline, undefined, () => conn.close());
}
