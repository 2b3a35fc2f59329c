// The parent's handle on ws-swarm-child.js: one child process holding thousands of student sockets and
// dashboard watchers, spoken to in JSON lines (one answer per command, in order).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../engine/paths.js';
import { withNofile } from './nofile.js';

// The built child, also when this module runs from the sources (tests).
const child = join(packageRoot, 'dist/bench/ws-swarm-child.js');

export class WsSwarm {
  private readonly waiting: Array<(m: Record<string, unknown>) => void> = [];
  private readonly proc: ChildProcess;
  private err = '';
  readonly exited: Promise<void>;

  constructor() {
    const [cmd, ...args] = withNofile([process.execPath, '--max-old-space-size=2048', child]);
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d) => (this.err = (this.err + d).slice(-2000)));
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.waiting.shift()?.(JSON.parse(l) as Record<string, unknown>));
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
    void this.exited.then(() => {
      for (const w of this.waiting.splice(0)) w({ ok: false, error: `swarm child exited: ${this.err.trim()}` });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Send a command; resolves with its answer, or throws the child's error. */
  async call<T = Record<string, number>>(cmd: Record<string, unknown>): Promise<T> {
    const answer = new Promise<Record<string, unknown>>((r) => this.waiting.push(r));
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    const m = await answer;
    if (!m.ok) throw new Error(`ws swarm ${String(cmd.cmd)}: ${String(m.error)}`);
    return m as T;
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.call({ cmd: 'close' }).catch(() => this.proc.kill('SIGKILL'));
    await this.exited;
    clearTimeout(timer);
  }
}
