// Hostile input on the sign-in routes: forged or missing state and code, provider errors carrying markup,
// huge and malformed cookies, redirect targets that leave the site, CSRF on logout, and a session cookie
// riding on another site's WebSocket. Each gets a clear refusal, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { safeNext } from '../../engine/server/sessions.js';
import { signIn, signInServers, startLogin } from './oidc-fixture.js';
import { keystroke } from './server-fixture.js';

describe('sign-in routes under hostile input', () => {
  let s: Awaited<ReturnType<typeof signInServers>>;
  beforeAll(async () => {
    s = await signInServers();
  });
  afterAll(async () => s?.close());

  it('a callback without this browser’s state, with a forged or huge state, or without a code is refused', async () => {
    const { jar, authorizeUrl } = await startLogin(s.url);
    const state = new URL(authorizeUrl).searchParams.get('state')!;
    const cases: Array<[string, string, number, RegExp]> = [
      [`/auth/callback?code=x&state=${state}`, '', 400, /not started in this browser/],
      [`/auth/callback?code=x&state=forged`, jar.header(), 400, /not started in this browser/],
      [`/auth/callback?code=x&state=${'s'.repeat(5000)}`, `loflow-login=${'s'.repeat(5000)}`, 400, /not started in this browser/],
      [`/auth/callback?state=${state}`, jar.header(), 400, /no authorization code/],
      // The state was used (and dropped) by the try above: a second use is a replay.
      [`/auth/callback?code=x&state=${state}`, jar.header(), 400, /expired or was already used/],
    ];
    for (const [path, cookie, code, text] of cases) {
      const res = await s.get(path, cookie);
      expect(res.status, path.slice(0, 80)).toBe(code);
      expect(await res.text()).toMatch(text);
      expect(res.headers.getSetCookie().some((c) => /^loflow-session=[^;]/.test(c))).toBe(false);
    }
  });

  it('a provider error is shown as bounded plain text, never as markup', async () => {
    const res = await s.get(`/auth/callback?error=${encodeURIComponent('<script>alert(1)</script>' + 'x'.repeat(5000))}&state=x`);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await res.text()).length).toBeLessThanOrEqual(301);
  });

  it('huge and malformed cookies are refused cleanly; the server keeps serving', async () => {
    // A seal that does not open is no session (401); a header that is not cookie syntax is a bad request.
    for (const [cookie, code] of [[`loflow-session=${'A'.repeat(12_000)}`, 401], [`loflow-session=Fe26.2**${'x'.repeat(300)}`, 401], ['loflow-session="unterminated; loflow-login=;;;=', 400]] as const) {
      const res = await s.get('/v1/dashboards', cookie);
      expect(res.status, cookie.slice(0, 40)).toBe(code);
    }
    const over = await s.get('/v1/dashboards', `loflow-session=${'A'.repeat(40_000)}`);
    expect([400, 431]).toContain(over.status); // Node's header limit (16 KiB): refused before any route
    expect((await s.get('/healthz')).status).toBe(200);
  });

  it('a redirect target off this site becomes /', async () => {
    const table: Array<[unknown, string]> = [
      ['/class?x=1', '/class?x=1'],
      ['//evil.example/x', '/'],
      ['/\\evil.example', '/'],
      ['https://evil.example/', '/'],
      ['javascript:alert(1)', '/'],
      ['/\t/evil.example', '/'],
      ['', '/'],
      [['/a', '/b'], '/'],
      ['/' + 'a'.repeat(600), '/'],
    ];
    for (const [next, want] of table) expect(safeNext(next), String(next)).toBe(want);
    const { res } = await signIn(s.url, 'ada', '//evil.example/steal');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/');
  });

  it('logout needs the CSRF token; a wrong token is not rescued by the session cookie', async () => {
    const { jar } = await signIn(s.url, 'ada');
    const me = await s.get('/auth/me', jar.header());
    jar.take(me);
    const { csrf } = await me.json();
    expect(typeof csrf).toBe('string');
    const post = (headers: Record<string, string>) => fetch(`${s.url}/auth/logout`, { method: 'POST', headers: { cookie: jar.header(), ...headers } });
    expect((await post({})).status).toBe(403);
    expect((await post({ 'x-csrf-token': 'forged' })).status).toBe(403);
    expect((await s.get('/auth/me', jar.header())).status).toBe(200);
    // A bearer token decides alone: an unknown one is 401 even with a good session cookie.
    expect((await fetch(`${s.url}/v1/dashboards`, { headers: { cookie: jar.header(), authorization: 'Bearer nope' } })).status).toBe(401);
    const out = await post({ 'x-csrf-token': csrf });
    expect(out.status).toBe(200);
    expect((await s.get('/auth/me', jar.header())).status).toBe(401);
  });

  it('ingest from tools (no session cookie) needs no CSRF token; a POST riding on a session cookie does', async () => {
    const batch = JSON.stringify([keystroke('s-0000', 1000)]);
    expect((await s.server.post(batch)).status).toBe(200);
    const { jar } = await signIn(s.url, 'ada');
    expect((await s.server.post(batch, { cookie: jar.header() })).status).toBe(403);
  });

  it('a session cookie on another site’s WebSocket is not a sign-in', async () => {
    const { jar } = await signIn(s.url, 'ada');
    const open = (origin: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/dashboards/overview/class-a/live`, { headers: { cookie: jar.header(), origin } });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(-1));
      });
    expect(await open('https://evil.example')).toBe(401);
    expect(await open(s.url)).toBe(101);
  });
});
