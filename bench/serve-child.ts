// `loflow serve` as a child process, so the server has its own event loop (and core) apart from the load
// generator, and can be SIGKILLed and restarted like a real deployment.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../engine/paths.js';
import { withNofile } from './nofile.js';

export interface ServeChild {
  url: string;
  pid: number;
  /** ms from spawn until the server printed that it is live. */
  startMs: number;
  /** Send a signal and wait for the exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface Health {
  ok: boolean;
  queue_depth: number;
  processed: number;
  committed_offset: number;
  log_end: number;
  /** Events processed and not yet taken by the archive's writer (absent before the field existed). */
  archive_backlog?: number;
}

/**
 * `nodeArgs` go to node itself (e.g. --cpu-prof; NODE_OPTIONS does not take it). `nofile`: started through
 * bash with a raised open-file limit (see nofile.ts), for thousands of sockets.
 */
export async function startServe(pipelineFile: string, port: number, args: string[], env: Record<string, string> = {}, nodeArgs: string[] = [], opts: { nofile?: boolean } = {}): Promise<ServeChild> {
  const t0 = performance.now();
  const argv = [process.execPath, ...nodeArgs, join(packageRoot, 'bin/loflow.js'), 'serve', pipelineFile, '--port', String(port), ...args];
  const [cmd, ...rest] = opts.nofile ? withNofile(argv) : argv;
  const child: ChildProcess = spawn(cmd, rest, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = /live at (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining, so the child never blocks on a full pipe
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`loflow serve exited (${code}) before it was live: ${err.trim()}`)));
  });
  const startMs = performance.now() - t0;
  return {
    url,
    pid: child.pid!,
    startMs,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A graceful stop that hangs is cut short: the bench must stop by itself.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function health(url: string): Promise<Health> {
  const r = await fetch(`${url}/healthz`);
  return (await r.json()) as Health;
}

/** One gauge's value from the Prometheus text at /metrics (first series whose line starts with `name`). */
export async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) if (line.startsWith(name)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  return undefined;
}
