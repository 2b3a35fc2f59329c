// Throwaway real servers for tests and benchmarks: redis-server (single and a 3-node cluster) on free
// loopback ports, in temp folders, stopped by PID. Never the services on the standard ports.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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

/** Waits for PONG; false as soon as the server has exited (it could not bind its port). */
async function waitPing(port: number, exited: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).toString().trim() === 'PONG') return true;
    } catch {
      /* not up yet */
    }
    if (exited()) return false;
    if (Date.now() > end) throw new Error(`redis-server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Start redis-server; `port` lets a test restart one on the same port after stopping it; `args` are added last
 * (they win); `dir` is a data folder kept at stop (a restart with it and `--appendonly yes` keeps the data).
 */
export async function startRedis(opts: { port?: number; cluster?: boolean; args?: string[]; dir?: string; detached?: boolean } = {}): Promise<RunningRedis> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'loflow-redis-'));
  // A free port can be taken before the server binds it, and a cluster node also binds port + 10,000 (its
  // bus), which is not checked: a server that exits at start is started again on another port (a cluster
  // node failed a full bench run with "did not start" on 2026-12-04).
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
    if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
    args.push(...(opts.args ?? []));
    // detached: the server outlives this process (`bench/cluster.ts up`); it is stopped later by its PID.
    const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore', detached: opts.detached === true });
    if (opts.detached) child.unref();
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (await waitPing(port, () => child.exitCode !== null || child.signalCode !== null)) return running(child, exited, port, dir, opts.dir);
    if (opts.port !== undefined || attempt >= 5) throw new Error(`redis-server on port ${port} exited at start${opts.port === undefined ? ` (${attempt} ports tried)` : ''}`);
    rmSync(join(dir, 'nodes.conf'), { force: true });
  }
}

function running(child: ChildProcess, exited: Promise<void>, port: number, dir: string, keep: string | undefined): RunningRedis {
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    dir,
    async stop() {
      // A test may have killed it by PID already (the failover test): then there is nothing to kill.
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      await exited;
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** utime + stime of a process so far, in seconds (Linux /proc; 0 elsewhere): a server's own CPU per unit of work. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * A Redis Cluster of `size` primaries; `dir` holds one data folder per node (kept at stop), `detached` as in
 * startRedis; `replicas: 1` adds one replica per primary (2 × size servers; the failover test), `args` go to
 * every server (e.g. `--appendonly yes`).
 */
export async function startRedisCluster(size = 3, opts: { dir?: string; detached?: boolean; replicas?: 0 | 1; args?: string[] } = {}): Promise<{ url: string; nodes: RunningRedis[]; stop(): Promise<void> }> {
  const replicas = opts.replicas ?? 0;
  const nodeDir = (i: number) => {
    if (!opts.dir) return undefined;
    const d = join(opts.dir, `node${i}`);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const nodes = await Promise.all(Array.from({ length: size * (1 + replicas) }, (_, i) => startRedis({ cluster: true, dir: nodeDir(i), detached: opts.detached, args: opts.args })));
  try {
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: 'ignore' });
    // Wait until every slot is served (and, with replicas, every primary has its replica connected).
    const end = Date.now() + 15_000;
    const cli = (port: number, ...a: string[]) => execFileSync('redis-cli', ['-p', String(port), ...a]).toString();
    const ready = () =>
      nodes.every((n) => cli(n.port, 'cluster', 'info').includes('cluster_state:ok')) &&
      (replicas === 0 || nodes.every((n) => !cli(n.port, 'info', 'replication').includes('role:master') || /connected_slaves:[1-9]/.test(cli(n.port, 'info', 'replication'))));
    while (!ready()) {
      if (Date.now() > end) throw new Error('redis cluster did not become ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop())); // no server left behind (detached ones would outlive us)
    throw err;
  }
  return {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export interface RunningPostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  pid: number;
  dir: string;
  /** `keep` leaves the data folder, so `startPostgres({ port, dir })` can bring the same server back. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

export function postgresBin(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, name))) return join(dir, name);
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(`/usr/lib/postgresql/${v}/bin/${name}`)) return `/usr/lib/postgresql/${v}/bin/${name}`;
  throw new Error(`${name} not found: install Debian's postgresql package (apt-get install -y postgresql)`);
}

/**
 * A throwaway Postgres cluster: `initdb` in a temp folder, `pg_ctl start` on a free loopback port (socket in
 * the same folder), trust auth, fsync on (the crash tests rely on it). Postgres refuses to run as root, so
 * under root the folder is given to the `postgres` user and the binaries run through `runuser`.
 */
export async function startPostgres(opts: { port?: number; dir?: string } = {}): Promise<RunningPostgres> {
  const port = opts.port ?? (await freePort());
  const fresh = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'loflow-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const run = (bin: string, args: string[]) => {
    const cmd = asRoot ? 'runuser' : postgresBin(bin);
    const argv = asRoot ? ['-u', 'postgres', '--', postgresBin(bin), ...args] : args;
    return execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  };
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  if (fresh) run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
  run('pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`]);
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid,
    dir,
    async stop(stopOpts: { keep?: boolean } = {}) {
      // By PID: SIGQUIT is Postgres' immediate shutdown; wait until the postmaster is gone.
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        /* already gone */
      }
      const end = Date.now() + 15_000;
      while (Date.now() < end) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!stopOpts.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}
