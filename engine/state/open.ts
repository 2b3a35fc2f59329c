// Pick the state store from a URL: none or `memory` -> in-process; redis:// or redis-cluster:// -> Redis.
import type { StateStore } from '../types.js';
import { MemoryStateStore } from './memory-store.js';
import { RedisStateStore } from './redis-store.js';

export async function openStateStore(url: string | undefined): Promise<StateStore> {
  if (!url || url === 'memory') return new MemoryStateStore();
  if (url.startsWith('redis://') || url.startsWith('rediss://') || url.startsWith('redis-cluster://')) return RedisStateStore.connect(url);
  throw new Error(`unknown state store '${url}': use memory, redis://host:port or redis-cluster://host:port,host:port`);
}
