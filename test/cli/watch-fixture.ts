// `loflow serve --watch` as a real process on copies of the demo pipeline and its roster in a temp folder:
// what the watch tests share.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root } from './run-cli.js';

/** Resolves once `pred` holds, checking every 50 ms; fails after `ms` if given, else by the test's timeout. */
export async function until<T>(pred: () => T | undefined | false | Promise<T | undefined | false>, ms = Infinity): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface WatchedServe {
  dir: string;
  /** The pipeline file being watched, and the roster CSV it names. */
  file: string;
  roster: string;
  child: ChildProcess;
  /** Everything the server printed on stdout so far. */
  out(): string;
  exited: Promise<number | null>;
  url: string;
}

/** Start `serve --watch --demo-tokens --demo` on fresh copies; resolves once it says it is live and watching. */
export async function watchedServe(prefix: string): Promise<WatchedServe> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'rosters'));
  const roster = join(dir, 'rosters/demo.csv');
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), roster);
  const file = join(dir, 'p.yaml');
  writeFileSync(file, readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8'));
  const child = spawn('node', [bin, 'serve', file, '--watch', '--port', '0', '--demo-tokens', '--demo', '--data', join(dir, 'data')], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = (await until(() => /live at (http:\/\/[\d.:]+).*watching/.exec(out)))[1];
  return { dir, file, roster, child, out: () => out, exited, url };
}

/** Every message of a dashboard's SSE stream, appended as it arrives (until `signal` aborts). */
export async function sseMessages(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<any[]> {
  const res = await fetch(url, { headers, signal });
  const messages: any[] = [];
  (async () => {
    let buf = '';
    for await (const chunk of res.body as any) {
      buf += Buffer.from(chunk).toString();
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        messages.push(JSON.parse(buf.slice('data: '.length, i)));
        buf = buf.slice(i + 2);
      }
    }
  })().catch(() => {});
  return messages;
}
