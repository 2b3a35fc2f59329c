// `loflow serve` as a child process for tests that must see whether hostile input kills the process.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from '../cli/run-cli.js';
import { until as untilBounded } from '../cli/watch-fixture.js';

export { root };
export const demoPipelineFile = join(root, 'pipelines/writing-observer.yaml');

export interface ServeChild {
  url: string;
  port: number;
  data: string;
  pid: number;
  /** True while the process runs. */
  alive(): boolean;
  output(): string;
  /** The dead letters written so far (the file store). */
  deadLetters(): any[];
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function serveChild(args: string[] = [], env: NodeJS.ProcessEnv = {}, pipeline = demoPipelineFile): Promise<ServeChild> {
  const data = mkdtempSync(join(tmpdir(), 'loflow-hardening-'));
  const child = spawn(process.execPath, [join(root, 'bin/loflow.js'), 'serve', pipeline, '--port', '0', '--data', data, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  const name = /^pipeline:\s*(\S+)/m.exec(readFileSync(pipeline, 'utf8'))![1];
  return {
    url,
    port: Number(new URL(url).port),
    data,
    pid: child.pid!,
    alive: () => child.exitCode === null && child.signalCode === null,
    output: () => out,
    deadLetters() {
      try {
        return readFileSync(join(data, name, 'deadletters.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      } catch {
        return [];
      }
    },
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Poll until `pred` holds (or throw after `ms`): the watch tests' helper, with a bound. */
export const until = <T>(pred: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> => untilBounded(pred, ms);
