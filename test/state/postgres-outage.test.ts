// `loflow serve --checkpoint postgres://...` while its Postgres goes away and comes back: ingest answers 503
// with Retry-After (nothing accepted), an at-least-once sender retries, and once Postgres is back the server
// accepts again and processes every accepted event exactly once, by itself.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '../../bench/servers.js';

const root = join(import.meta.dirname, '../..');
const student = (i: number) => `s-${String(i % 40).padStart(4, '0')}`;
const batch = (from: number) => Array.from({ length: 50 }, (_, i) => ({ event: 'keystroke', ts: from + i, auth: { user_id: student(from + i) } }));

describe('Postgres outage under serve --checkpoint', () => {
  it('answers 503 + Retry-After while Postgres is down and catches up by itself when it returns', async () => {
    const pg = await startPostgres();
    const child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', join(root, 'pipelines/writing-observer.yaml'), '--port', '0', '--checkpoint', pg.url, '--data', mkdtempSync(join(tmpdir(), 'loflow-pgout-'))], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stderr.on('data', (d) => (out += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /live at (http:\/\/[\d.:]+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    const post = (seq: number) =>
      fetch(`${url}/v1/events`, { method: 'POST', body: JSON.stringify(batch(seq)), headers: { 'x-loflow-producer': 'outage', 'x-loflow-seq': String(seq) } });
    let back: Awaited<ReturnType<typeof startPostgres>> | undefined;
    try {
      expect((await post(0)).status).toBe(200);
      await pg.stop({ keep: true });
      const refused = await post(50);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('2');
      expect(((await refused.json()) as { error: string }).error).toMatch(/unavailable: nothing was accepted, retry/);

      back = await startPostgres({ port: pg.port, dir: pg.dir });
      // The sender retries the refused batch until it is accepted, then sends one more.
      for (let tries = 0; ; tries++) {
        const r = await post(50);
        if (r.status === 200) break;
        expect(r.status).toBe(503);
        expect(tries).toBeLessThan(100);
        await new Promise((res) => setTimeout(res, 100));
      }
      expect((await post(100)).status).toBe(200);
      for (let tries = 0; ; tries++) {
        const h = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; committed_offset: number; log_end: number; processed: number };
        if (h.ok && h.committed_offset === 150) {
          expect(h.log_end).toBe(150);
          break;
        }
        expect(tries).toBeLessThan(200);
        await new Promise((res) => setTimeout(res, 100));
      }
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/loflow_events_in_total\{source="batch"\} 150\n/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await (back ?? pg).stop();
    }
  }, 90_000);
});
