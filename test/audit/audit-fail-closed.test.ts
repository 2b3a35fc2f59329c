// No student data without its audit record: when the log cannot take a record, dashboard reads and live
// subscriptions are answered 503 (refusals still get their own status), and with a working log each
// access is on record before its answer arrives (operators' taps too).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AuditLog, CURRENT } from '../../engine/audit/audit-log.js';
import { demoServer } from '../server/server-fixture.js';

const upgradeStatus = (url: string) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', reject);
  });

describe('audit: fail closed', () => {
  it('answers 503 instead of unaudited data when the log refuses records', async () => {
    const s = await demoServer({ audit: new AuditLog(mkdtempSync(join(tmpdir(), 'loflow-audit-')), { maxPending: 0 }) });
    try {
      const read = await s.get('/v1/dashboards/overview/class-a', 'tok-ada');
      expect(read.status).toBe(503);
      expect(await read.json()).toEqual({ error: 'the audit log cannot be written: student data is not served until it can' });
      expect((await s.get('/v1/dashboards/overview/class-a/events', 'tok-ada')).status).toBe(503);
      expect(await upgradeStatus(`${s.url.replace('http', 'ws')}/v1/dashboards/overview/class-a/live?token=tok-ada`)).toBe(503);
      // A refusal is answered as before: nothing is served either way.
      expect((await s.get('/v1/dashboards/overview/class-c', 'tok-ada')).status).toBe(403);
      expect((await s.get('/v1/dashboards/overview/class-a')).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  it('has each read on disk before its answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-audit-'));
    const s = await demoServer({ audit: new AuditLog(dir), auth: { teacherTokens: { 'tok-ada': 't-ada' }, adminTokens: ['adm'] } });
    try {
      for (let i = 0; i < 3; i++) {
        expect((await s.get('/v1/dashboards/overview/class-a', 'tok-ada')).status).toBe(200);
        const lines = readFileSync(join(dir, CURRENT), 'utf8').split('\n').filter(Boolean);
        expect(lines).toHaveLength(i + 1);
        expect(JSON.parse(lines[i])).toMatchObject({ actor: 'teacher:t-ada', action: 'dashboard.read', result: 'ok', target: { dashboard: 'overview', class: 'class-a' } });
      }
      expect(await upgradeStatus(`${s.url.replace('http', 'ws')}/v1/dashboards/overview/class-a/live?token=tok-ada`)).toBe(101);
      // An operator's tap of raw events is on record too, its key only as a pseudonym; a teacher's attempt as denied.
      const ctrl = new AbortController();
      const tap = await fetch(`${s.url}/v1/tap/events?key=s-0000`, { headers: { authorization: 'Bearer adm' }, signal: ctrl.signal });
      expect(tap.status).toBe(200);
      ctrl.abort();
      expect((await s.get('/v1/tap/events', 'tok-ada')).status).toBe(403);
      const taps = readFileSync(join(dir, CURRENT), 'utf8').split('\n').filter((l) => l.includes('tap.read')).map((l) => JSON.parse(l));
      expect(taps).toMatchObject([
        { actor: 'admin', action: 'tap.read', result: 'ok', target: { node: 'events', key: expect.stringMatching(/^p:[0-9a-f]{24}$/) } },
        { actor: expect.stringMatching(/^token:/), action: 'tap.read', result: 'denied' },
      ]);
      expect(readFileSync(join(dir, CURRENT), 'utf8')).not.toContain('s-0000');
    } finally {
      await s.close();
    }
  });
});
