// A local Redis Cluster for trying scale-out by hand, for tests and the bench: `npm run cluster -- up`
// starts 3 primaries (bench/servers.ts, the code the test setup uses) on free loopback ports with their data
// in one temp folder, prints the redis-cluster:// URL and leaves them running; `npm run cluster -- down`
// stops them by the PIDs recorded in that folder and removes it. Never touches the standard ports.
//   npm run cluster -- up [--nodes N]      -> prints redis-cluster://127.0.0.1:p1,127.0.0.1:p2,...
//   npm run cluster -- down [folder]       -> the last one started when no folder is given
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startRedisCluster } from './servers.js';

export interface ClusterRecord {
  url: string;
  dir: string;
  nodes: Array<{ port: number; pid: number }>;
}

/** Where `up` notes the folder of the cluster it started last (so `down` needs no argument). */
export const lastClusterFile = () => join(tmpdir(), 'loflow-cluster.last');

export async function clusterUp(size = 3): Promise<ClusterRecord> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-cluster-'));
  const c = await startRedisCluster(size, { dir, detached: true });
  const record: ClusterRecord = { url: c.url, dir, nodes: c.nodes.map((n) => ({ port: n.port, pid: n.pid })) };
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(record, null, 2));
  writeFileSync(lastClusterFile(), dir);
  return record;
}

/** Is `pid` still the redis-server we started on `port` (not a reused PID)? Linux /proc; elsewhere: alive. */
function ours(pid: number, port: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return true;
  const text = readFileSync(cmdline, 'utf8');
  return text.includes('redis-server') && text.includes(String(port));
}

/** Stop every node by PID (SIGTERM, SIGKILL after 5 s), then remove the folder. Returns how many were running. */
export async function clusterDown(dir: string): Promise<number> {
  const record = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterRecord;
  const running = record.nodes.filter((n) => ours(n.pid, n.port));
  for (const n of running) process.kill(n.pid, 'SIGTERM');
  const end = Date.now() + 5000;
  while (running.some((n) => ours(n.pid, n.port))) {
    if (Date.now() > end) {
      for (const n of running.filter((x) => ours(x.pid, x.port))) process.kill(n.pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  rmSync(dir, { recursive: true, force: true });
  if (existsSync(lastClusterFile()) && readFileSync(lastClusterFile(), 'utf8') === dir) rmSync(lastClusterFile());
  return running.length;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, arg] = argv;
  if (cmd === 'up') {
    const i = argv.indexOf('--nodes');
    const size = i >= 0 ? Number(argv[i + 1]) : 3;
    if (!Number.isInteger(size) || size < 3) {
      console.error('--nodes must be a whole number ≥ 3 (Redis Cluster needs 3 primaries)');
      return 2;
    }
    const r = await clusterUp(size);
    console.error(`redis cluster of ${size} primaries, data in ${r.dir}, PIDs ${r.nodes.map((n) => n.pid).join(' ')}; stop with: npm run cluster -- down`);
    console.log(r.url);
    return 0;
  }
  if (cmd === 'down') {
    const dir = arg ?? (existsSync(lastClusterFile()) ? readFileSync(lastClusterFile(), 'utf8') : undefined);
    if (!dir || !existsSync(join(dir, 'cluster.json'))) {
      console.error(`no cluster to stop${dir ? ` in ${dir}` : ''} (give the folder \`up\` printed)`);
      return 1;
    }
    console.error(`stopped ${await clusterDown(dir)} redis-server processes; removed ${dir}`);
    return 0;
  }
  console.error('usage: npm run cluster -- up [--nodes N] | down [folder]');
  return 2;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));
