// Audit end to end, with real processes: `loflow serve` on the OneRoster example pipeline, a teacher
// reads the dashboard (JSON, SSE, WebSocket) and is refused a class she does not lead, an operator exports
// the archive; `loflow audit` prints and filters those records, `--verify` passes, and one altered byte
// makes it fail naming the line. The export's analysis log entry names its audit record.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { keystroke } from '../server/server-fixture.js';
import { run, root } from '../cli/run-cli.js';
import { serveChild, until, type ServeChild } from '../hardening/serve-child.js';

const pipeline = join(root, 'pipelines/examples/writing-observer.oneroster.yaml');
const name = 'writing-observer-school';

async function sseSnapshot(url: string): Promise<any> {
  const ctrl = new AbortController();
  const res = await fetch(url, { signal: ctrl.signal });
  const reader = res.body!.getReader();
  let buf = '';
  while (!buf.includes('\n\n')) buf += new TextDecoder().decode((await reader.read()).value);
  ctrl.abort();
  return JSON.parse(buf.slice('data: '.length, buf.indexOf('\n\n')));
}

describe('audit: dashboard reads and exports on record, verifiable', () => {
  let s: ServeChild;
  let audit: string;
  beforeAll(async () => {
    s = await serveChild(['--demo-tokens', '--demo'], {}, pipeline);
    audit = join(s.data, name, 'audit');
  }, 60_000);
  afterAll(() => s?.stop());

  it('records reads, subscriptions and refusals; the export links its record; verify catches one byte', async () => {
    const now = Date.now();
    const post = await fetch(`${s.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([keystroke('stu-40101', now), keystroke('stu-40101', now + 100), keystroke('stu-40107', now + 200)]) });
    expect(post.status).toBe(200);
    const auth = { authorization: 'Bearer demo-tch-okafor' };
    // The teacher of period 1 reads it (her students from the OneRoster export)...
    const table = await until(async () => {
      const body = (await (await fetch(`${s.url}/v1/dashboards/overview/cls-eng9-p1`, { headers: auth })).json()) as any;
      return body.rows?.find((r: any) => r.member === 'stu-40101')?.events === 2 && body;
    }, 30_000);
    expect(table.rows.map((r: any) => r.member)).toEqual(['stu-40101', 'stu-40102', 'stu-40103', 'stu-40104', 'stu-40105']);
    // ...and period 3, which she co-teaches (its primary teacher is Haddad); a class she does not teach is refused.
    expect((await fetch(`${s.url}/v1/dashboards/overview/cls-eng9-p3`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${s.url}/v1/dashboards/overview/cls-eng9-p1`, { headers: { authorization: 'Bearer demo-tch-haddad' } })).status).toBe(403);
    // Live: SSE and a WebSocket, each opened and closed.
    expect((await sseSnapshot(`${s.url}/v1/dashboards/overview/cls-eng9-p3/events?token=demo-tch-haddad`)).type).toBe('snapshot');
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/dashboards/overview/cls-eng9-p1/live?token=demo-tch-okafor`);
    const first = await new Promise<any>((resolve, reject) => {
      ws.once('message', (m) => resolve(JSON.parse(String(m))));
      ws.once('error', reject);
    });
    expect(first.type).toBe('snapshot');
    ws.close();
    const printed = async (...args: string[]) => (await run('audit', '--dir', audit, ...args)).stdout.trim().split('\n').filter(Boolean);
    // Unsubscribes are recorded when the server sees the connections close.
    await until(async () => (await printed('--action', 'dashboard.unsubscribe')).length === 2, 15_000);
    await s.stop();

    const exp = await run('archive', 'export', '--dir', join(s.data, name, 'archive'), '--out', join(s.data, 'all.car'));
    expect(exp.code).toBe(0);
    const root = exp.stdout.trim();

    const all = await printed();
    const reads = all.filter((l) => / dashboard\.read /.test(l));
    expect(reads.length).toBeGreaterThanOrEqual(2);
    expect(reads.at(-1)).toMatch(/teacher:tch-haddad {2}dashboard\.read {2}denied {2}pipeline=writing-observer-school dashboard=overview class=cls-eng9-p1 {2}\(403 teacher 'tch-haddad' does not teach 'cls-eng9-p1'\)/);
    expect(reads.filter((l) => / ok .*class=cls-eng9-p[13]/.test(l)).length).toBe(reads.length - 1);
    expect(await printed('--action', 'dashboard.subscribe')).toEqual([
      expect.stringMatching(/teacher:tch-haddad {2}dashboard\.subscribe {2}ok .*class=cls-eng9-p3/),
      expect.stringMatching(/teacher:tch-okafor {2}dashboard\.subscribe {2}ok .*class=cls-eng9-p1/),
    ]);
    expect(await printed('--actor', 'tch-haddad')).toHaveLength(3); // a denied read, subscribe, unsubscribe
    expect(await printed('--denied')).toHaveLength(1);
    const exports = await printed('--action', 'archive.export', '--json');
    expect(exports).toHaveLength(1);
    const record = JSON.parse(exports[0]);
    expect(record).toMatchObject({ action: 'archive.export', result: 'ok', actor: expect.stringMatching(/^cli:/), target: { pipeline: name, output: root, pseudonymized: false } });
    // No token in the log, only its id.
    expect(readFileSync(join(audit, 'audit.jsonl'), 'utf8')).not.toContain('demo-tch-okafor');
    // The analysis log's entry for the export names the record.
    const analyses = await run('archive', 'log', '--analyses', '--dir', join(s.data, name, 'archive'));
    expect(analyses.stdout).toContain(`Audit:    ${record.hash}`);

    const ok = await run('audit', '--dir', audit, '--verify');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^ok .*: ${all.length} records, hash chain intact; last hash ${record.hash}$`, 'm'));
    // One byte: the denied read becomes an allowed one.
    const file = join(audit, 'audit.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"denied"'));
    lines[i] = lines[i].replace('"denied"', '"deniez"');
    writeFileSync(file, lines.join('\n'));
    const bad = await run('audit', '--dir', audit, '--verify');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`audit.jsonl line ${i + 1}: the record was altered (its content does not match its hash)`);
  }, 120_000);
});
