// `serve` applies the retention policy by itself when it starts (and daily): a real `loflow serve` child on a
// file log and the run's Redis, restarted with its clock set months later (LOFLOW_RETENTION_NOW), drops the
// states past their last day before its engine starts and removes the expired, archived raw events from its
// log, saying so in its log lines.
import { describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const root = join(import.meta.dirname, '../..');

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ child, url: m[1], out: () => out });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
}

const stop = (child: ChildProcess) => {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
};

describe('serve applies retention', () => {
  it('at start: drops states past their last day, removes expired archived raw events from its log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-ret-serve-'));
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `retserve${Date.now()}`;
    const file = join(dir, 'pipeline.yaml');
    const text = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
    writeFileSync(file, `${text}\nretention: { raw: 90d, states: { until: 2027-01-31 } }\n`);
    const args = [file, '--state', inject('redisUrl'), '--log', join(dir, 'log'), '--archive', join(dir, 'archive'), '--data', join(dir, 'data')];
    const events = Array.from({ length: 40 }, (_, i) => ({ event: 'visibility', ts: Date.now(), auth: { user_id: `s-000${i % 4}` }, marker: 'typed-in-december' }));

    // First life (today): events applied, archived at the graceful stop; nothing has expired yet.
    let s = await serve(args);
    expect((await fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(events) })).status).toBe(200);
    for (let i = 0; i < 600; i++) {
      const h = (await (await fetch(`${s.url}/healthz`)).json()) as { committed_offset: number };
      if (h.committed_offset === 40) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop(s.child);
    expect(s.out()).toMatch(/raw: removed 0: raw events before/);
    const log = () => readdirSync(join(dir, 'log')).map((f) => readFileSync(join(dir, 'log', f), 'utf8')).join('');
    expect(log()).toMatch(/typed-in-december/);
    const redis = new Redis(inject('redisUrl'));
    const stateKeys = () => redis.keys(`lf:{${name}}:s:*`);
    expect((await stateKeys()).length).toBeGreaterThan(0);

    // Second life, its clock in June 2027: 90 days back is March, so December's events expire; the states'
    // last day (January 31) has passed.
    s = await serve(args, { LOFLOW_RETENTION_NOW: '2027-06-01T00:00:00Z' });
    await stop(s.child);
    expect(s.out()).toMatch(/states: removed \d+: states past 2027-01-31/);
    expect(s.out()).toMatch(/raw: removed 40: raw events before 2027-03-03/);
    expect(log()).not.toMatch(/typed-in-december/);
    expect(await stateKeys()).toEqual([]);
    redis.disconnect();
  });
});
