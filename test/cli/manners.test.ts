// Issue #15.4: CLI manners. A closed pipe ends a command quietly; `generate` shows progress on a terminal
// only; the demo's port taken is said plainly (a free port instead of the default, a clear failure for a
// --port given); logs are readable on a terminal and JSON when piped; `bench --quick` writes to a git-ignored
// folder. Terminals are real ones: `script` gives the child a pseudo-terminal.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../../bench/run.js';
import { until } from './watch-fixture.js';
import { bin, root } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-manners-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(-c.pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const quote = (args: string[]) => args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');

/** `loflow ...args`, with a terminal (through `script`) or pipes; its own process group, to stop it by PID. */
function start(args: string[], opts: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  const command = [process.execPath, bin, ...args];
  const child = opts.tty
    ? spawn('script', ['-qfec', quote(command), '/dev/null'], { cwd: root, detached: true, env: { ...process.env, ...opts.env } })
    : spawn(command[0], command.slice(1), { cwd: root, detached: true, env: { ...process.env, ...opts.env } });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out, exit };
}

/** A port held by someone else, on loopback (never a standard one). */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

describe('CLI manners', () => {
  it('a reader that closes the pipe early (| head): exit 0, no EPIPE stack trace', async () => {
    const { child, out, exit } = start(['generate', '--events', '2000000']);
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    child.stdout!.destroy(); // what `head -1` does once it has its line
    expect(await exit).toBe(0);
    expect(out.stderr).toBe('');
  });

  it('generate: a progress line on a terminal, none when piped', async () => {
    const tty = start(['generate', '--events', '300000', '--out', join(dir, 'a.ndjson')], { tty: true });
    expect(await tty.exit).toBe(0);
    expect(tty.out.stdout).toMatch(/\rgenerate \[[#.]{30}\] [\d,]+ events {2}[\d,]+ ev\/s/);
    const piped = start(['generate', '--events', '300000', '--out', join(dir, 'b.ndjson')]);
    expect(await piped.exit).toBe(0);
    expect(piped.out.stderr).toBe('');
  });

  it('demo: the usual port taken -> a free port, said; a --port given and taken -> a clear failure', async () => {
    const held = await holdPort();
    try {
      const moved = start(['demo', '--students', '5', '--duration', '2'], { env: { PORT: String(held.port) } });
      expect(await moved.exit).toBe(0);
      expect(moved.out.stdout).toContain(`port ${held.port} is in use: the dashboard is on a free port instead (choose one with --port N: npm start -- --port N)`);
      const url = /dashboard at (http:\/\/127\.0\.0\.1:(\d+))\//.exec(moved.out.stdout);
      expect(Number(url?.[2])).not.toBe(held.port);
      const refused = start(['demo', '--students', '5', '--duration', '2', '--port', String(held.port)]);
      expect(await refused.exit).toBe(1);
      expect(refused.out.stderr).toBe(`loflow: port ${held.port} is in use: choose another with --port N (npm start -- --port N), or --port 0 for a free one\n`);
      expect(refused.out.stdout).not.toMatch(/events fed/); // it did not run on without a dashboard
    } finally {
      held.server.close();
    }
  });

  it('serve logs: readable lines on a terminal, JSON lines when piped', async () => {
    // Each run its own data folder: `script` may exit before its node child has released the archive's lock.
    const args = (data: string) => ['serve', 'pipelines/writing-observer.yaml', '--port', '0', '--data', join(dir, data)];
    const tty = start(args('serve-tty'), { tty: true, env: { LOFLOW_LOG_FORMAT: '', LOFLOW_LOG_LEVEL: 'info' } });
    await until(() => /loflow server started/.test(tty.out.stdout), 60_000);
    process.kill(-tty.child.pid!, 'SIGTERM');
    await tty.exit;
    expect(tty.out.stdout).toMatch(/\d\d:\d\d:\d\d\.\d{3}\]? .*INFO.*loflow server started/);
    expect(tty.out.stdout).not.toContain('"msg":"loflow server started"');
    const piped = start(args('serve-piped'), { env: { LOFLOW_LOG_FORMAT: '', LOFLOW_LOG_LEVEL: 'info' } });
    await until(() => /loflow server started/.test(piped.out.stderr), 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; serve's stderr: ${piped.out.stderr.slice(-2000)}`);
    });
    process.kill(-piped.child.pid!, 'SIGTERM');
    await piped.exit;
    const line = piped.out.stderr.split('\n').find((l) => l.includes('loflow server started'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: 'loflow server started', service: 'loflow' });
  }, 120_000);

  it('bench --quick writes its report under the git-ignored bench/results/quick', async () => {
    const r = await runBench({ quick: true, only: ['no-workload'] });
    try {
      const rel = relative(root, r.file);
      expect(rel).toMatch(/^bench\/results\/quick\/[\d-]+-quick\.md$/);
      expect(execFileSync('git', ['check-ignore', rel], { cwd: root, encoding: 'utf8' }).trim()).toBe(rel);
    } finally {
      rmSync(r.file, { force: true });
      rmSync(r.file.replace(/\.md$/, '.json'), { force: true });
    }
  });
});
