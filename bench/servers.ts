// Throwaway real servers for tests and benchmarks: redis-server (single and a 3-node cluster) on free
// loopback ports, in temp folders, stopped by PID. Never the services on the standard ports.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningRedis {
  port: number;
  url: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

async function waitPing(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() === 'PONG') return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) throw new Error(`redis-server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start redis-server; `port` lets a test restart one on the same port after stopping it. */
export async function startRedis(opts: { port?: number; cluster?: boolean } = {}): Promise<RunningRedis> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'loflow-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
  if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitPing(port);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    dir,
    async stop() {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startRedisCluster(size = 3): Promise<{ url: string; nodes: RunningRedis[]; stop(): Promise<void> }> {
  const nodes = await Promise.all(Array.from({ length: size }, () => startRedis({ cluster: true })));
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  // Wait until every slot is served.
  const end = Date.now() + 15_000;
  while (!execFileSync('redis-cli', ['-p', String(nodes[0].port), 'cluster', 'info']).toString().includes('cluster_state:ok')) {
    if (Date.now() > end) throw new Error('redis cluster did not become ok');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
