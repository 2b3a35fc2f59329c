// `loflow serve` as a real process: ingest, graceful stop on SIGTERM, dead letters listed and re-fed.
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'bin/loflow.js');
const pipeline = join(root, 'pipelines/writing-observer.yaml');

function serve(data: string) {
  const child = spawn('node', [bin, 'serve', pipeline, '--port', '0', '--data', data], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, url, exited, output: () => out };
}

describe('loflow serve and deadletter', () => {
  it('serves ingest, stops gracefully on SIGTERM, and lists and re-feeds dead letters', async () => {
    const data = mkdtempSync(join(tmpdir(), 'loflow-serve-'));
    const s = serve(data);
    const url = await s.url;
    const r = await fetch(`${url}/v1/events`, { method: 'POST', body: JSON.stringify([{ event: 'keystroke', ts: 1, auth: { user_id: 's-0000' } }, { ts: 2 }]) });
    expect(r.status).toBe(207);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/stopping: draining and committing/);

    const run = promisify(execFile);
    const ls = await run('node', [bin, 'deadletter', 'ls', pipeline, '--data', data], { cwd: root });
    expect(ls.stdout).toMatch(/batch {2}ingest {2}\(event\) must have 'event'/);
    expect(ls.stderr).toMatch(/^1 dead letters/m);

    // A letter whose event is fine now (say the schema was fixed), and one that is still bad.
    const file = join(data, 'writing-observer', 'deadletters.ndjson');
    mkdirSync(join(data, 'writing-observer'), { recursive: true });
    writeFileSync(file, [
      JSON.stringify({ stream: 'batch', event: { event: 'keystroke', ts: 5, auth: { user_id: 's-0001' } }, reason: 'old schema', at: 0, stage: 'ingest' }),
      JSON.stringify({ stream: 'batch', event: null, reason: 'not JSON', at: 0, stage: 'ingest' }),
    ].join('\n') + '\n');
    const again = serve(mkdtempSync(join(tmpdir(), 'loflow-serve-')));
    const url2 = await again.url;
    const replay = await run('node', [bin, 'deadletter', 'replay', pipeline, '--data', data, '--to', url2], { cwd: root });
    expect(replay.stdout).toMatch(/re-fed 1 letters: 1 accepted/);
    expect(replay.stdout).toMatch(/kept 1 letters that could not be re-fed:\n.*not JSON: no event/);
    expect(await (await fetch(`${url2}/metrics`)).text()).toMatch(/loflow_events_in_total\{source="batch"\} 1\n/);
    const after = await run('node', [bin, 'deadletter', 'ls', pipeline, '--data', data, '--json'], { cwd: root });
    expect(JSON.parse(after.stdout)).toEqual([expect.objectContaining({ reason: 'not JSON' })]);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });
});
