// vitest global setup: throwaway Redis (single and a 3-node cluster) and Postgres for the whole run, on free
// loopback ports, stopped by PID at the end. Tests read their URLs with inject('redisUrl'),
// inject('redisClusterUrl') and inject('postgresUrl').
import type { TestProject } from 'vitest/node';
import { startPostgres, startRedis, startRedisCluster } from '../bench/servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterUrl: string;
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject) {
  // Servers the tests start as child processes log warnings only: the test output stays readable.
  process.env.LOFLOW_LOG_LEVEL ??= 'warn';
  const [redis, cluster, postgres] = await Promise.all([startRedis(), startRedisCluster(3), startPostgres()]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterUrl', cluster.url);
  process.env.LOFLOW_TEST_REDIS_URL = redis.url;
  process.env.LOFLOW_TEST_REDIS_CLUSTER = cluster.url;
  project.provide('postgresUrl', postgres.url);
  process.env.LOFLOW_TEST_POSTGRES_URL = postgres.url;
  return async () => {
    await Promise.all([redis.stop(), cluster.stop(), postgres.stop()]);
  };
}
