import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { demoServer, keystroke } from './server-fixture.js';

type S = Awaited<ReturnType<typeof demoServer>>;

describe('server: HTTP ingest into dashboards', () => {
  let s: S;
  beforeAll(async () => {
    s = await demoServer({ limits: { maxBatchEvents: 50, maxBodyBytes: 20_000 } });
  });
  afterAll(() => s.close());

  it('accepts a JSON array batch and the teacher’s dashboard shows it', async () => {
    const r = await s.post(JSON.stringify([keystroke('s-0000', 1000), keystroke('s-0000', 1200), keystroke('s-0004', 1300)]));
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ accepted: 3, duplicates: 0, rejected: [], warnings: [] });
    await s.engine.flush();
    const d = await (await s.get('/v1/dashboards/overview/class-a', 'tok-ada')).json();
    expect(d.rows.find((x: any) => x.member === 's-0000')).toMatchObject({ events: 2 });
    expect(d.rows.find((x: any) => x.member === 's-0004')).toMatchObject({ events: 1 });
    expect(d.summary.students).toBe(50);
  });

  it('accepts NDJSON and rejects bad lines and schema failures by index, keeping them as dead letters', async () => {
    const before = await s.engine.deadLetters.count();
    const body = [JSON.stringify(keystroke('s-0008', 2000)), '{broken', JSON.stringify({ ts: 3 }), JSON.stringify(keystroke('s-0008', 2100))].join('\n');
    const r = await s.post(body, { 'content-type': 'application/x-ndjson' });
    expect(r.status).toBe(207);
    const j = await r.json();
    expect(j.accepted).toBe(2);
    expect(j.rejected).toEqual([
      { index: 1, reason: expect.stringMatching(/^not JSON/) },
      { index: 2, reason: "(event) must have 'event'" },
    ]);
    expect((await s.engine.deadLetters.count()) - before).toBe(2);
  });

  it('answers 400 for a malformed body, 413 for too many events or too many bytes, 404 for an unknown path', async () => {
    const bad = await s.post('[{"event": ');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/^malformed body/);
    const many = await s.post(JSON.stringify(Array.from({ length: 51 }, (_, i) => keystroke('s-0000', i))));
    expect(many.status).toBe(413);
    expect((await many.json()).error).toMatch(/51 events is over the limit of 50/);
    const big = await s.post(JSON.stringify([{ ...keystroke('s-0000', 1), pad: 'x'.repeat(30_000) }]));
    expect(big.status).toBe(413);
    expect((await fetch(`${s.url}/v1/nowhere`, { method: 'POST', body: '[]' })).status).toBe(404);
  });

  it('accepts an unknown student but says so: kept, processed, on no dashboard', async () => {
    const r = await s.post(JSON.stringify([keystroke('s-9999', 5000)]));
    expect(r.status).toBe(200);
    const j = await r.json();
    expect(j.accepted).toBe(1);
    expect(j.warnings[0].reason).toMatch(/unknown student 's-9999': not in roster 'demo'/);
    await s.engine.flush();
    expect(s.engine.view('events', 's-9999')).toBe(1);
  });

  it('lets a teacher read only their own classes; ingest keys and strangers read nothing', async () => {
    expect((await s.get('/v1/dashboards/overview/class-a', 'tok-ada')).status).toBe(200);
    expect((await s.get('/v1/dashboards/overview/class-c', 'tok-ada')).status).toBe(403);
    expect((await s.get('/v1/dashboards/overview/class-c', 'tok-bo')).status).toBe(200);
    expect((await s.get('/v1/dashboards/overview/class-a')).status).toBe(401);
    expect((await s.get('/v1/dashboards/overview/class-a', 'some-ingest-key')).status).toBe(401);
    expect((await s.get('/v1/dashboards/overview/class-zz', 'tok-ada')).status).toBe(404);
    const list = await (await s.get('/v1/dashboards', 'tok-ada')).json();
    expect(list.dashboards[0].classes).toEqual(['class-a', 'class-b']);
  });

  it('streams a snapshot then deltas over SSE when a student’s state changes', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${s.url}/v1/dashboards/overview/class-b/events?token=tok-ada`, { signal: ctrl.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const messages: any[] = [];
    let buf = '';
    const next = async () => {
      while (!buf.includes('\n\n')) buf += new TextDecoder().decode((await reader.read()).value);
      const i = buf.indexOf('\n\n');
      const m = JSON.parse(buf.slice(6, i));
      buf = buf.slice(i + 2);
      messages.push(m);
      return m;
    };
    const snap = await next();
    expect(snap.type).toBe('snapshot');
    await s.post(JSON.stringify([keystroke('s-0001', 9000), keystroke('s-0001', 9100)]));
    const delta = await next();
    expect(delta.type).toBe('delta');
    expect(delta.rows).toEqual([expect.objectContaining({ member: 's-0001', events: 2 })]);
    ctrl.abort();
  });

  it('serves /healthz, Prometheus /metrics and the dashboard page', async () => {
    expect(await (await s.get('/healthz')).json()).toMatchObject({ ok: true });
    const m = await (await s.get('/metrics')).text();
    expect(m).toMatch(/loflow_events_in_total\{source="batch"\} \d+/);
    expect(m).toMatch(/loflow_reducer_keys\{reducer="events"\} \d+/);
    expect(m).toMatch(/loflow_queue_depth 0/);
    expect(await (await s.get('/')).text()).toMatch(/live class overview/);
  });
});

describe('server: limits and keys', () => {
  it('requires the API key when one is configured, and rate-limits per key with Retry-After', async () => {
    const s = await demoServer({ auth: { apiKeys: ['k1'] }, limits: { ratePerSec: 1, rateBurst: 3 } });
    try {
      const body = JSON.stringify([keystroke('s-0000', 1)]);
      expect((await s.post(body)).status).toBe(401);
      expect((await s.post(body, { authorization: 'Bearer nope' })).status).toBe(403);
      expect((await s.post(body, { authorization: 'Bearer k1' })).status).toBe(200);
      const burst = await s.post(JSON.stringify([keystroke('s-0000', 2), keystroke('s-0000', 3), keystroke('s-0000', 4)]), { 'x-api-key': 'k1' });
      expect(burst.status).toBe(429);
      expect(Number(burst.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });
});

describe('server: Learning Observer WebSocket protocol', () => {
  const open = (url: string) =>
    new Promise<{ ws: WebSocket; messages: any[]; next: () => Promise<any> }>((resolve, reject) => {
      const ws = new WebSocket(url);
      const messages: any[] = [];
      const waiting: Array<(m: any) => void> = [];
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        const w = waiting.shift();
        if (w) w(m);
        else messages.push(m);
      });
      ws.on('open', () => resolve({ ws, messages, next: () => (messages.length ? Promise.resolve(messages.shift()) : new Promise((r) => waiting.push(r))) }));
      ws.on('error', reject);
    });

  it('merges lock_fields, buffers events until identity arrives, answers auth, and closes on terminate', async () => {
    const s = await demoServer();
    try {
      const c = await open(`${s.url.replace('http', 'ws')}/wsapi/in/`);
      c.ws.send(JSON.stringify({ event: 'lock_fields', fields: { source: 'org.mitros.writing_analytics', version: '1.0' } }));
      // Data before identity (as real extensions do), one with a client-side `auth` that must be ignored.
      c.ws.send(JSON.stringify({ event: 'keystroke', ts: 100, doc_id: 'd1', keystroke: { key: 'h' }, auth: { user_id: 'forged' } }));
      c.ws.send(JSON.stringify({ event: 'keystroke', ts: 200, doc_id: 'd1', keystroke: { key: 'i' } }));
      c.ws.send(JSON.stringify({ event: 'lock_fields', fields: { user_id: 's-0002' } }));
      expect(await c.next()).toEqual({ status: 'auth', user_id: 's-0002' });
      c.ws.send(JSON.stringify([{ event: 'keystroke', ts: 300, doc_id: 'd1', keystroke: { key: '!' } }]));
      c.ws.send('not json');
      expect(await c.next()).toMatchObject({ status: 'error', error: expect.stringMatching(/^not JSON/) });
      const closed = new Promise<number>((r) => c.ws.on('close', (code) => r(code)));
      c.ws.send(JSON.stringify({ event: 'terminate' }));
      expect(await closed).toBe(1000);
      await new Promise((r) => setTimeout(r, 50));
      await s.engine.flush();
      expect(s.engine.view('events', 's-0002')).toBe(3);
      expect(s.engine.view('events', 'forged')).toBeUndefined();
      const letters = await s.engine.deadLetters.list();
      expect(letters.some((l) => l.reason === 'not JSON')).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('refuses a blocklisted student with {status: blocklist}', async () => {
    const s = await demoServer({ auth: { blocklist: ['s-0003'] } });
    try {
      const c = await open(`${s.url.replace('http', 'ws')}/wsapi/in/`);
      c.ws.send(JSON.stringify({ event: 'lock_fields', fields: { user_id: 's-0003' } }));
      expect(await c.next()).toMatchObject({ status: 'blocklist', user_id: 's-0003' });
    } finally {
      await s.close();
    }
  });

  it('pushes live dashboard deltas over WebSocket, and refuses another teacher’s class', async () => {
    const s = await demoServer();
    try {
      const base = s.url.replace('http', 'ws');
      const live = await open(`${base}/v1/dashboards/overview/class-c/live?token=tok-bo`);
      expect((await live.next()).type).toBe('snapshot');
      const student = await open(`${base}/wsapi/in/`);
      student.ws.send(JSON.stringify({ event: 'lock_fields', fields: { user_id: 's-0002' } }));
      student.ws.send(JSON.stringify({ event: 'keystroke', ts: 1, doc_id: 'd', keystroke: { key: 'x' } }));
      const delta = await live.next();
      expect(delta).toMatchObject({ type: 'delta', group: 'class-c', rows: [expect.objectContaining({ member: 's-0002', events: 1 })] });
      await expect(open(`${base}/v1/dashboards/overview/class-c/live?token=tok-ada`)).rejects.toThrow(/403/);
    } finally {
      await s.close();
    }
  });
});
