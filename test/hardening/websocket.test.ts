// Hostile WebSocket and upgrade input against a real `loflow serve` process (hardening issue, findings 1, 2,
// 5, 6, 11, 13): each bad frame or request target ends that one socket or request with the right code, the
// process lives on, keys hold on WebSocket sources, and nothing held before identity vanishes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, rawRequest, rawWs } from './raw-ws.js';
import { serveChild, until, type ServeChild } from './serve-child.js';

const TEXT = 1;
const lock = (user: string) => frame(TEXT, JSON.stringify({ event: 'lock_fields', fields: { user_id: user } }));
const keystroke = (ts: number) => frame(TEXT, JSON.stringify({ event: 'keystroke', ts, doc_id: 'd1', keystroke: { key: 'a' } }));

async function healthy(s: ServeChild) {
  expect(s.alive()).toBe(true);
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
}

describe('malformed frames and upgrade requests (default serve)', () => {
  let s: ServeChild;
  beforeAll(async () => {
    s = await serveChild(['--demo-tokens', '--demo']);
  });
  afterAll(() => s?.stop());

  const paths = ['/wsapi/in/', '/v1/dashboards/overview/class-a/live?token=demo-t-ada'];
  const cases: Array<[string, (path: string) => Buffer, number]> = [
    ['invalid UTF-8 in a text frame', () => frame(TEXT, Buffer.from([0xe0, 0xa4, 0x41])), 1007],
    ['an unmasked client frame', () => frame(TEXT, '{"event":"x"}', { mask: false }), 1002],
    ['an RSV bit set', () => frame(TEXT, '{"event":"x"}', { rsv: 4 }), 1002],
    ['a message over the size limit', (p) => frame(TEXT, Buffer.alloc(p.startsWith('/wsapi') ? 256 * 1024 + 1 : 4097, 0x20)), 1009],
    ['an unknown opcode', () => frame(0x3, 'x'), 1002],
    ['a control frame over 125 bytes', () => frame(0x9, Buffer.alloc(200)), 1002],
  ];
  for (const path of paths) {
    for (const [what, make, code] of cases) {
      it(`closes ${path.split('?')[0]} on ${what} with ${code}, and the server lives on`, async () => {
        const c = await rawWs(s.port, path);
        expect(c.status).toBe(101);
        c.write(make(path));
        expect(await c.closed).toBe(code);
        c.socket.destroy();
        await healthy(s);
      });
    }
  }

  it('answers 400 to upgrade targets that are no path or have bad percent-encoding', async () => {
    for (const target of ['/v1/dashboards/o/%E0%A4%A/live', '//x:99999/wsapi/in/', 'http://[/wsapi/in/', '/v1/dashboards/%/%/live']) {
      const c = await rawWs(s.port, target);
      expect(c.status, target).toBe(400);
      c.socket.destroy();
    }
    expect(await s.metrics()).toMatch(/loflow_requests_refused_total\{kind="upgrade",reason="bad_url"\} 4/);
    await healthy(s);
  });

  it('treats constructor, toString and __proto__ as unknown tokens, on HTTP and WebSocket', async () => {
    for (const token of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const r = await fetch(`${s.url}/v1/dashboards?token=${token}`);
      expect(r.status, token).toBe(401);
      const one = await fetch(`${s.url}/v1/dashboards/overview/class-a?token=${token}`);
      expect(one.status).toBe(401);
      expect(await one.text()).not.toMatch(/function|native code/);
      const ws = await rawWs(s.port, `/wsapi/in/?token=${token}`);
      expect(await ws.closed).toBe(4401);
      ws.socket.destroy();
    }
    await healthy(s);
  });

  it('names the event in a WebSocket rejection, counts it, and keeps lock_fields to own plain fields', async () => {
    const c = await rawWs(s.port, '/wsapi/in/');
    c.write(frame(TEXT, JSON.stringify({ event: 'lock_fields', fields: JSON.parse('{"__proto__": {"polluted": 1}, "user_id": "s-0007"}') })));
    expect(await c.nextJson()).toEqual({ status: 'auth', user_id: 's-0007' });
    c.write(keystroke(1));
    c.write(frame(TEXT, JSON.stringify({ ts: 2 })));
    expect(await c.nextJson()).toMatchObject({ status: 'rejected', index: 1, reason: expect.stringMatching(/event/) });
    c.write(frame(TEXT, JSON.stringify({ event: 'lock_fields', fields: 'not an object' })));
    expect(await c.nextJson()).toMatchObject({ status: 'error', error: expect.stringMatching(/must be a JSON object/) });
    expect(await s.metrics()).toMatch(/loflow_events_rejected_total\{source="extension",reason="invalid"\} [1-9]/);
    c.socket.destroy();
  });

  it('keeps the raw text of a bad NDJSON line, answers 400 to a body that is not JSON at all, and counts whole-body refusals', async () => {
    const post = (body: string | Buffer) => fetch(`${s.url}/v1/events`, { method: 'POST', body });
    const nd = await post(`${JSON.stringify({ event: 'keystroke', ts: 1, auth: { user_id: 's-0001' } })}\n{"half":`);
    expect(nd.status).toBe(207);
    const broken = await post('{"broken": ');
    expect(broken.status).toBe(400);
    expect((await broken.json()).error).toMatch(/^malformed body/);
    expect((await post(Buffer.alloc(6 * 1024 * 1024, 0x20))).status).toBe(413);
    const letters = await until(() => {
      const l = s.deadLetters();
      return l.some((x) => x.event === '{"half":') && l.some((x) => x.event === '{"broken": ') && l;
    });
    expect(letters.find((x) => x.event === '{"half":').reason).toMatch(/^not JSON/);
    const m = await s.metrics();
    expect(m).toMatch(/loflow_requests_refused_total\{kind="http",reason="malformed"\} 1/);
    expect(m).toMatch(/loflow_requests_refused_total\{kind="http",reason="body_too_large"\} 1/);
  });
});

describe('keys and identity hold on WebSocket sources', () => {
  let s: ServeChild;
  beforeAll(async () => {
    s = await serveChild(['--ws-identity', 'token'], { LOFLOW_API_KEYS: 'k1', LOFLOW_WS_TOKENS: 'tok-s1:s-0001' });
  });
  afterAll(() => s?.stop());

  it('refuses a WebSocket without a key (401) or with a wrong one (403), as HTTP ingest does', async () => {
    expect((await fetch(`${s.url}/v1/events`, { method: 'POST', body: '[]' })).status).toBe(401);
    expect((await rawWs(s.port, '/wsapi/in/')).status).toBe(401);
    expect((await rawWs(s.port, '/wsapi/in/?api_key=nope')).status).toBe(403);
    const ok = await rawWs(s.port, '/wsapi/in/?api_key=k1&token=tok-s1');
    expect(ok.status).toBe(101);
    expect(await ok.nextJson()).toEqual({ status: 'auth', user_id: 's-0001' });
    ok.write(keystroke(5));
    await until(async () => /loflow_events_in_total\{source="extension"\} 1\n/.test(await s.metrics()));
    ok.socket.destroy();
  });

  it('with --ws-identity token, a claimed user_id is not an identity; what was held is dead-lettered on close', async () => {
    const c = await rawWs(s.port, '/wsapi/in/', { authorization: 'Bearer k1' });
    expect(c.status).toBe(101);
    c.write(lock('s-0002'));
    for (let i = 0; i < 5; i++) c.write(keystroke(100 + i));
    await new Promise((r) => setTimeout(r, 200));
    expect(c.frames.some((f) => f.payload.toString().includes('"auth"'))).toBe(false);
    c.socket.destroy();
    const held = await until(() => {
      const l = s.deadLetters().filter((x) => x.reason === 'no identity before the connection closed');
      return l.length === 5 && l;
    });
    expect(held[0].event).toMatchObject({ event: 'keystroke', user_id: 's-0002', connection: expect.objectContaining({ ip: '127.0.0.1' }) });
  });

  it('closes a socket that holds too many events before identity (1008) and dead-letters them all', async () => {
    const c = await rawWs(s.port, '/wsapi/in/?api_key=k1');
    const many = Buffer.concat(Array.from({ length: 1001 }, (_, i) => keystroke(1000 + i)));
    c.write(many);
    expect(await c.closed).toBe(1008);
    const held = await until(() => {
      const l = s.deadLetters().filter((x) => /^no identity: over 1000 events/.test(x.reason));
      return l.length === 1001 && l;
    });
    expect(held).toHaveLength(1001);
    expect(await s.metrics()).toMatch(/loflow_events_rejected_total\{source="extension",reason="no_identity"\} 1006/);
    await healthy(s);
  });
});
