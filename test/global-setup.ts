// vitest global setup: throwaway Redis (single and a 3-node cluster) for the whole run, on free loopback
// ports, stopped by PID at the end. Tests read their URLs with inject('redisUrl') / inject('redisClusterUrl').
import type { TestProject } from 'vitest/node';
import { startRedis, startRedisCluster } from '../bench/servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const [redis, cluster] = await Promise.all([startRedis(), startRedisCluster(3)]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterUrl', cluster.url);
  process.env.LOFLOW_TEST_REDIS_URL = redis.url;
  process.env.LOFLOW_TEST_REDIS_CLUSTER = cluster.url;
  return async () => {
    await Promise.all([redis.stop(), cluster.stop()]);
  };
}
