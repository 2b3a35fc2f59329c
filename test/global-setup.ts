// vitest global setup: throwaway Redis (single and a 3-node cluster) and Postgres for the whole run, on free
// loopback ports, stopped by PID at the end. Tests read their URLs with inject('redisUrl'),
// inject('redisClusterUrl') and inject('postgresUrl'). Every temporary folder of the run (the servers', the
// tests', their child processes') goes under one folder that is removed at the end.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  // os.tmpdir() reads TMPDIR; test workers and the processes they start inherit it. Readable by the
  // postgres user, who runs the throwaway Postgres when the tests run as root.
  const runDir = mkdtempSync(join(tmpdir(), 'loflow-test-run-'));
  chmodSync(runDir, 0o755);
  process.env.TMPDIR = runDir;
  // The CLI's code cache (engine/vendor/code-cache.ts) of the loflow processes the tests start: there too.
  process.env.LOFLOW_CACHE_DIR ??= join(runDir, 'code-cache');
  const [redis, cluster, postgres] = await Promise.all([startRedis(), startRedisCluster(3), startPostgres()]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterUrl', cluster.url);
  process.env.LOFLOW_TEST_REDIS_URL = redis.url;
  process.env.LOFLOW_TEST_REDIS_CLUSTER = cluster.url;
  project.provide('postgresUrl', postgres.url);
  process.env.LOFLOW_TEST_POSTGRES_URL = postgres.url;
  return async () => {
    await Promise.all([redis.stop(), cluster.stop(), postgres.stop()]);
    rmSync(runDir, { recursive: true, force: true });
  };
}
