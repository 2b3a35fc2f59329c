// Finding 14 (CLI part): every CLI error is one line on stderr and an exit code, never a stack trace;
// `... | head` (EPIPE) exits quietly; `serve --rebuild` refuses another server's archive before it changes
// any state.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { bin, root, run } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-cli-errors-'));
const demo = join(root, 'pipelines/writing-observer.yaml');

/** One line, no `    at ...` frames. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

describe('CLI errors', () => {
  it('replay of a damaged CAR: one line, exit 1', async () => {
    const car = join(dir, 'damaged.car');
    writeFileSync(car, Buffer.concat([Buffer.from([0x3a, 0xa2, 0x65]), Buffer.alloc(2000, 0x41)]));
    const r = await run('replay', demo, car, '--no-log', '--archive', join(dir, 'a'));
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/^loflow: .*damaged\.car is not a readable CAR file/);
  });

  it('a closed stdout (| head) ends the command quietly, exit 0', async () => {
    const child = spawn('node', [bin, 'generate', '--events', '200000'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.stdout.destroy(); // what `head` does once it has its lines
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
  });

  it('a Postgres checkpoint whose database does not exist: one line naming it, exit 1', async () => {
    const url = new URL(inject('postgresUrl'));
    url.pathname = '/no_such_database';
    const r = await run('serve', demo, '--port', '0', '--data', join(dir, 'pg'), '--checkpoint', url.toString());
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/^loflow: cannot open the Postgres checkpoint postgres:\/\/.*no_such_database.*database "no_such_database" does not exist/);
  });

  it('serve --rebuild while another server holds the archive: refused before any state changes', async () => {
    const work = join(dir, 'rebuild');
    mkdirSync(join(work, 'rosters'), { recursive: true });
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(work, 'rosters/demo.csv'));
    const name = `lock${Date.now()}`;
    const v1 = readFileSync(demo, 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
    writeFileSync(join(work, 'v1.yaml'), v1);
    writeFileSync(join(work, 'v2.yaml'), v1.replace('idle_after: 5m', 'idle_after: 2m'));
    const common = ['--state', inject('redisUrl'), '--data', join(work, 'data'), '--port', '0'];
    const events = join(work, 'e.ndjson');
    expect((await run('generate', '--events', '1000', '--students', '10', '--seed', '3', '--out', events)).code).toBe(0);

    // v1 live (it holds the archive's lock), with some state.
    const s1 = spawn('node', [bin, 'serve', join(work, 'v1.yaml'), ...common], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        s1.stdout.on('data', (d) => {
          out += d;
          const m = /live at (http:\/\/[\d.:]+)/.exec(out);
          if (m) resolve(m[1]);
        });
        s1.on('exit', () => reject(new Error('v1 did not start')));
      });
      const body = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.stringify(JSON.parse(l).event)).join('\n');
      expect((await fetch(`${url}/v1/events`, { method: 'POST', body })).status).toBe(200);
      const before = (await run('state', 'ls', join(work, 'v2.yaml'), '--state', inject('redisUrl'))).stdout;
      expect(before).toMatch(/^time_on_task .* stale/m);

      const r = await run('serve', join(work, 'v2.yaml'), ...common, '--rebuild');
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toBe(`loflow: the archive ${join(work, 'data', name, 'archive')} is in use by process ${s1.pid} (another server of '${name}'?); stop it first. Nothing has been changed.`);
      expect(r.stdout).not.toMatch(/rebuilt/);
      expect((await run('state', 'ls', join(work, 'v2.yaml'), '--state', inject('redisUrl'))).stdout).toBe(before);
    } finally {
      s1.kill('SIGTERM');
      await new Promise((r) => s1.once('exit', r));
    }
  });
});
