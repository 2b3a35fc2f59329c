// A process that consumes the Redis input log (`--checkpoint redis`) also processes what ingest nodes
// append (`serve --role ingest`): it polls each partition's `cur.end` (ingest.lua's last appended offset,
// one pipelined HGET per partition) and tells the Engine when a log grew. Polling, not a blocking XREAD:
// the state store's connection stays free for commits. A stand-in until workers (`--role worker`) read
// their partitions' streams themselves.
import type { Cluster, Redis } from 'ioredis';
import type { Engine } from '../runtime.js';
import { curKey } from '../state/key-layout.js';

const POLL_MS = 20;

export function followLogs(engine: Engine, redis: Redis | Cluster, tags: string[]): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      const ends = await Promise.all(tags.map((t) => redis.hget(curKey(t), 'end')));
      ends.forEach((e, n) => {
        if (e !== null) engine.logGrew(n, Number(e));
      });
    } catch {
      // Redis down: the engine's own retries report it (health, 503); polling resumes with it.
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };
  timer = setTimeout(poll, POLL_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
