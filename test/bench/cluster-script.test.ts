// `npm run cluster -- up|down` (bench/cluster.ts): up prints a redis-cluster:// URL of 3 primaries that
// serve every slot and keep running after the script exits; down stops exactly those PIDs and removes the
// data folder; down with nothing to stop says so.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ClusterRecord } from '../../bench/cluster.js';
import { root } from '../cli/run-cli.js';

const tsx = join(root, 'node_modules/.bin/tsx');
const script = (...args: string[]) => promisify(execFile)(tsx, [join(root, 'bench/cluster.ts'), ...args], { cwd: root });
/** Running (a zombie waiting for its reaper has an empty /proc cmdline: not running). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !existsSync(`/proc/${pid}/cmdline`) || readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
};

describe('bench/cluster.ts', () => {
  it('up starts a 3-node cluster that outlives the script, down stops it by PID and removes its folder', async () => {
    const up = await script('up');
    const url = up.stdout.trim();
    expect(url).toMatch(/^redis-cluster:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    const dir = /data in (\S+),/.exec(up.stderr)![1];
    const record = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterRecord;
    expect(record.url).toBe(url);
    try {
      expect(record.nodes.every((n) => alive(n.pid))).toBe(true);
      const c = new Cluster(url.slice('redis-cluster://'.length).split(',').map((hp) => ({ host: '127.0.0.1', port: Number(hp.split(':')[1]) })));
      try {
        // Keys in different slots land on different primaries; every slot is served.
        for (let i = 0; i < 30; i++) await c.set(`k{${i}}`, String(i));
        expect(await c.get('k{7}')).toBe('7');
        expect(String(await c.cluster('INFO'))).toContain('cluster_slots_assigned:16384');
        expect(c.nodes('master')).toHaveLength(3);
      } finally {
        c.disconnect();
      }
    } finally {
      const down = await script('down', dir);
      expect(down.stderr).toContain('stopped 3 redis-server processes');
    }
    expect(record.nodes.some((n) => alive(n.pid))).toBe(false);
    expect(existsSync(dir)).toBe(false);
    const again = await script('down', dir).catch((e) => e);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no cluster to stop');
  }, 60_000);
});
