// Teacher sign-in against a real OpenID provider (oidc-provider on a loopback port): who gets a session,
// what it reads, and every way a sign-in must fail (replayed state, another issuer, another client's code,
// a teacher on no roster, a domain not allowed, an unverified email), and sessions that expire.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerSignIn, signIn, signInServers, startLogin, startProvider, type TestProvider } from './oidc-fixture.js';

describe('OpenID Connect sign-in (real provider)', () => {
  let s: Awaited<ReturnType<typeof signInServers>>;
  let other: TestProvider;
  beforeAll(async () => {
    s = await signInServers({ extraClients: [{ client_id: 'other-app', client_secret: 'other-secret', redirect_uris: ['http://127.0.0.1:9/cb'] }] });
  });
  afterAll(async () => {
    await s?.close();
    await other?.close();
  });

  it('signs a roster teacher in by verified email: their classes only, 403 for another class', async () => {
    const { res, jar } = await signIn(s.url, 'ada', '/?from=test');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/?from=test');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('loflow-session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Max-Age=\d+/);
    const me = await (await s.get('/auth/me', jar.header())).json();
    expect(me).toMatchObject({ teacher: 't-ada', email: 'ada@school.example' });
    const list = await (await s.get('/v1/dashboards', jar.header())).json();
    expect(list.teacher).toBe('t-ada');
    expect(list.dashboards[0].classes).toEqual(['class-a', 'class-b']);
    expect((await s.get('/v1/dashboards/overview/class-a', jar.header())).status).toBe(200);
    expect((await s.get('/v1/dashboards/overview/class-c', jar.header())).status).toBe(403);
  });

  it('matches a teacher by the provider subject when the email is not on the roster', async () => {
    const { res, jar } = await signIn(s.url, 'bo-login');
    expect(res.status).toBe(302);
    expect((await (await s.get('/auth/me', jar.header())).json()).teacher).toBe('t-bo');
  });

  it('refuses a teacher on no roster, a domain not allowed and an unverified email: no session', async () => {
    for (const [login, code, text] of [['stranger', 403, /not a teacher on any roster/], ['eve', 403, /other\.example.*may not sign in/], ['mallory', 403, /not a teacher on any roster/]] as const) {
      const { res, jar } = await signIn(s.url, login);
      expect(res.status, login).toBe(code);
      expect(await res.text()).toMatch(text);
      expect(jar.cookies.has('loflow-session'), login).toBe(false);
    }
  });

  it('a replayed callback (same state, nonce and code) is refused', async () => {
    const { res, callback, loginJar } = await signIn(s.url, 'ada');
    expect(res.status).toBe(302);
    const again = await fetch(callback, { redirect: 'manual', headers: { cookie: loginJar } });
    expect(again.status).toBe(400);
    expect(await again.text()).toMatch(/expired or was already used/);
    expect(again.headers.getSetCookie().some((c) => /^loflow-session=[^;]/.test(c))).toBe(false);
  });

  it('a callback from another issuer is refused, even with this browser’s state', async () => {
    const port = Number(new URL(s.url).port);
    other = await startProvider([{ client_id: 'loflow', client_secret: 'loflow-test-secret', redirect_uris: [`http://127.0.0.1:${port}/auth/callback`] }]);
    const { jar, authorizeUrl } = await startLogin(s.url);
    // The same request, sent to the other provider: it answers with its own code and `iss`.
    const forged = new URL(authorizeUrl);
    const otherUrl = new URL(forged.pathname + forged.search, other.issuer).href;
    const callback = await providerSignIn(otherUrl, 'ada', `${s.url}/auth/callback`);
    expect(new URL(callback).searchParams.get('iss')).toBe(other.issuer);
    const res = await fetch(callback, { redirect: 'manual', headers: { cookie: jar.header() } });
    expect(res.status).toBe(401);
    expect(await res.text()).toMatch(/sign-in failed: .*iss/i);
  });

  it('a code issued to another client (another audience) is refused', async () => {
    const { jar, authorizeUrl } = await startLogin(s.url);
    const state = new URL(authorizeUrl).searchParams.get('state')!;
    const forged = new URL(authorizeUrl);
    forged.searchParams.set('client_id', 'other-app');
    forged.searchParams.set('redirect_uri', 'http://127.0.0.1:9/cb');
    const cb = new URL(await providerSignIn(forged.href, 'ada', 'http://127.0.0.1:9/cb'));
    expect(cb.searchParams.get('code')).toBeTruthy();
    const res = await fetch(`${s.url}/auth/callback?code=${cb.searchParams.get('code')}&state=${state}&iss=${encodeURIComponent(s.provider.issuer)}`, { redirect: 'manual', headers: { cookie: jar.header() } });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().some((c) => /^loflow-session=[^;]/.test(c))).toBe(false);
  });
});

describe('session expiry', () => {
  let s: Awaited<ReturnType<typeof signInServers>>;
  beforeAll(async () => {
    s = await signInServers({ sessionTtlMs: 1500 });
  });
  afterAll(async () => s?.close());

  it('an expired session reads nothing, even if the browser still sends the cookie', async () => {
    const { jar } = await signIn(s.url, 'ada');
    expect((await s.get('/v1/dashboards/overview/class-a', jar.header())).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    expect((await s.get('/v1/dashboards/overview/class-a', jar.header())).status).toBe(401);
    expect((await s.get('/auth/me', jar.header())).status).toBe(401);
  });
});
