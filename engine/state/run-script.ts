// Run one of layout 2's Lua scripts through ioredis's custom commands: EVALSHA, and EVAL when Redis answers
// NOSCRIPT (its script cache is empty after a restart or failover). Defined once per client.
import type { Cluster, Redis } from 'ioredis';
import { SCRIPTS, type ScriptName } from './scripts.js';

const defined = new WeakSet<object>();

type Scripted = Record<ScriptName, (numKeys: number, ...args: Array<string | number>) => Promise<unknown>>;

export function runScript(redis: Redis | Cluster, name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
  if (!defined.has(redis)) {
    for (const [n, lua] of Object.entries(SCRIPTS)) redis.defineCommand(n, { lua });
    defined.add(redis);
  }
  return (redis as unknown as Scripted)[name](keys.length, ...keys, ...args);
}
