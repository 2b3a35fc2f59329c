// Sign-in sessions in Redis: two dashboard nodes behind one public address share every teacher's sign-in —
// a sign-in started on one node completes on the other, a restart signs nobody out, a logout on one node
// ends the session everywhere — and a flood of sign-ins in progress is bounded. Real provider, real Redis.
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../bench/servers.js';
import { RedisSessionStore } from '../../engine/server/redis-sessions.js';
import { openSessionStore } from '../../engine/server/open-sessions.js';
import { providerSignIn, rosterWithEmails, signIn, startLogin, startProvider, type TestProvider } from './oidc-fixture.js';
import { demoServer } from './server-fixture.js';

describe('sign-in sessions shared through Redis', () => {
  let provider: TestProvider;
  let redis: Redis;
  const prefix = `sess-test-${randomBytes(4).toString('hex')}`;
  const roster = rosterWithEmails();
  let publicUrl: string;
  const nodes: Array<Awaited<ReturnType<typeof demoServer>>> = [];

  /** A dashboard node on `port` signing teachers in for the shared public address. */
  async function node(port: number, pendingPerMinute?: number) {
    const conn = new Redis(inject('redisUrl'), { lazyConnect: true });
    await conn.connect();
    const sessions = new RedisSessionStore(conn, 3600_000, prefix, undefined, async () => void conn.disconnect(), pendingPerMinute);
    const s = await demoServer({ port, auth: { teacherTokens: {} }, sessions, oidc: { issuer: provider.issuer, clientId: 'loflow', clientSecret: 'loflow-test-secret', publicUrl, allowedDomains: ['school.example'] } }, roster);
    nodes.push(s);
    return s;
  }
  const me = (url: string, cookie: string) => fetch(`${url}/auth/me`, { headers: { cookie } });

  beforeAll(async () => {
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    provider = await startProvider([{ client_id: 'loflow', client_secret: 'loflow-test-secret', redirect_uris: [`${publicUrl}/auth/callback`] }]);
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    for (const s of nodes) await s.close().catch(() => undefined);
    await provider?.close();
    redis?.disconnect();
  });

  it('a sign-in on one node is a sign-in on the other; restart keeps it; logout on one ends it on both', async () => {
    const a = await node(Number(new URL(publicUrl).port));
    const b = await node(0);
    // Started on A; the load balancer sends the provider's redirect back to B: B completes it.
    const { jar, authorizeUrl } = await startLogin(a.url, '/');
    const callback = new URL(await providerSignIn(authorizeUrl, 'ada', `${publicUrl}/auth/callback`));
    const res = await fetch(`${b.url}${callback.pathname}${callback.search}`, { redirect: 'manual', headers: { cookie: jar.header() } });
    expect(res.status, await res.clone().text()).toBe(302);
    jar.take(res);
    for (const n of [a, b]) expect(await (await me(n.url, jar.header())).json()).toMatchObject({ teacher: 't-ada' });
    expect((await fetch(`${a.url}/v1/dashboards/overview/class-a`, { headers: { cookie: jar.header() } })).status).toBe(200);

    // The session record is keyed by a hash of its id and expires with it.
    const keys = await redis.keys(`lf:${prefix}:sess:*`);
    expect(keys).toHaveLength(1);
    const ttl = await redis.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(3500_000);
    expect(ttl).toBeLessThanOrEqual(3600_000);

    // A restart of A (a new process would build the same store): still signed in.
    await a.close();
    nodes.splice(nodes.indexOf(a), 1);
    const a2 = await node(Number(new URL(publicUrl).port));
    expect((await me(a2.url, jar.header())).status).toBe(200);

    // Logout on B (with its CSRF token): A's next request is not signed in.
    const m = await me(b.url, jar.header());
    jar.take(m);
    const { csrf } = await m.json();
    const out = await fetch(`${b.url}/auth/logout`, { method: 'POST', headers: { cookie: jar.header(), 'x-csrf-token': csrf } });
    expect(out.status).toBe(200);
    expect((await me(a2.url, jar.header())).status).toBe(401);
    expect(await redis.keys(`lf:${prefix}:sess:*`)).toHaveLength(0);
  });

  it('a sign-in state is good once across nodes', async () => {
    const a = nodes.find((n) => n.url === publicUrl)!;
    const b = nodes.find((n) => n !== a)!;
    const { res, callback, loginJar } = await signIn(a.url, 'ada');
    expect(res.status).toBe(302);
    const u = new URL(callback);
    const again = await fetch(`${b.url}${u.pathname}${u.search}`, { redirect: 'manual', headers: { cookie: loginJar } });
    expect(again.status).toBe(400);
    expect(await again.text()).toMatch(/expired or was already used/);
  });

  it('sign-ins in progress are bounded: past the limit a login is refused with 503 and Retry-After', async () => {
    const c = await node(0, 3);
    // The per-minute counter is shared by all nodes: the earlier tests' logins count too, so fill it up.
    const answers: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${c.url}/auth/login`, { redirect: 'manual' });
      answers.push(r.status);
      if (r.status === 503) expect(r.headers.get('retry-after')).toBe('60');
    }
    expect(answers).toContain(503);
    expect(answers.filter((x) => x === 302).length).toBeLessThanOrEqual(3);
  });

  it('--sessions: memory by default, the state Redis when there is one, a clear error otherwise', async () => {
    const mem = await openSessionStore(undefined, undefined, 'p');
    expect(mem.kind).toBe('memory');
    const shared = await openSessionStore(undefined, inject('redisUrl'), 'p');
    expect(shared.kind).toBe('redis');
    await shared.close();
    await expect(openSessionStore('postgres://x', undefined, 'p')).rejects.toThrow(/--sessions takes memory, redis/);
  });
});
