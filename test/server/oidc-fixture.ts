// A real OpenID provider for sign-in tests: oidc-provider (certified) on a free loopback port, with its
// development login page (any login name, any password) and a few accounts. `providerSignIn` walks that page
// over HTTP with a cookie jar, the way a browser would; the browser test clicks through it in Chromium.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { freePort } from '../../bench/servers.js';
import { demoPipeline, demoServer } from './server-fixture.js';

/** Login name -> claims. Emails are `<name>@school.example` unless said otherwise. */
export const accounts: Record<string, { email?: string; email_verified?: boolean }> = {
  ada: {}, // t-ada by teacher_email: class-a and class-b
  'bo-login': { email: 'bo@elsewhere.example' }, // t-bo by teacher_sub (the roster names this subject)
  stranger: {}, // a school account on no roster
  eve: { email: 'eve@other.example' }, // a domain that may not sign in
  mallory: { email: 'ada@school.example', email_verified: false }, // claims ada's email, unverified
};

export interface TestProvider {
  issuer: string;
  close(): Promise<void>;
}

export interface TestClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

export async function startProvider(clients: TestClient[]): Promise<TestProvider> {
  const http = createServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({ ...c, grant_types: ['authorization_code'], response_types: ['code'] })),
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: accounts[id]?.email ?? `${id}@school.example`, email_verified: accounts[id]?.email_verified ?? true }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    cookies: { keys: ['loflow-test-provider-cookie-key'] },
    features: { devInteractions: { enabled: true } },
  });
  http.on('request', provider.callback());
  return {
    issuer,
    close: () => new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    }),
  };
}

/** The demo pipeline with a copy of its roster that adds teacher_email and teacher_sub columns. */
export function rosterWithEmails(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-oidc-roster-'));
  const rows = readFileSync(join(demoPipeline, '../rosters/demo.csv'), 'utf8').trim().split(/\r?\n/);
  const out = [`${rows[0]},teacher_email,teacher_sub`];
  for (const r of rows.slice(1)) {
    const teacher = r.split(',')[2];
    out.push(`${r},${teacher === 't-bo' ? '' : `${teacher.slice(2)}@school.example`},${teacher === 't-bo' ? 'bo-login' : ''}`);
  }
  const file = join(dir, 'roster.csv');
  writeFileSync(file, out.join('\n') + '\n');
  return file;
}

/** Cookies as a browser keeps them, by name (one host each: the provider's, or loflow's). */
export class Jar {
  readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Sign `login` in at the provider, starting from its authorization URL; stops at the first redirect to
 * `callbackPrefix` (loflow's /auth/callback) and returns that URL, not followed.
 */
export async function providerSignIn(authorizeUrl: string, login: string, callbackPrefix: string): Promise<string> {
  const jar = new Jar();
  let url = authorizeUrl;
  let init: RequestInit = {};
  for (let step = 0; step < 20; step++) {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
    jar.take(res);
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location')!, url).href;
      if (next.startsWith(callbackPrefix)) return next;
      [url, init] = [next, {}];
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action || !prompt) throw new Error(`provider page ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
    [url, init] = [new URL(action.replace(/&amp;/g, '&'), url).href, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }];
  }
  throw new Error('the provider sign-in did not end in a redirect to loflow');
}

/** Start a sign-in at loflow: its login cookie jar and the provider URL it redirects to. */
export async function startLogin(loflowUrl: string, next?: string): Promise<{ jar: Jar; authorizeUrl: string }> {
  const jar = new Jar();
  const res = await fetch(`${loflowUrl}/auth/login${next === undefined ? '' : `?next=${encodeURIComponent(next)}`}`, { redirect: 'manual' });
  jar.take(res);
  if (res.status !== 302) throw new Error(`/auth/login answered ${res.status}: ${await res.text()}`);
  return { jar, authorizeUrl: res.headers.get('location')! };
}

/** The whole sign-in over HTTP: loflow's callback response (not followed) and the jar holding its cookies. */
export async function signIn(loflowUrl: string, login: string, next?: string): Promise<{ res: Response; jar: Jar; callback: string; loginJar: string }> {
  const { jar, authorizeUrl } = await startLogin(loflowUrl, next);
  const callback = await providerSignIn(authorizeUrl, login, `${loflowUrl}/auth/callback`);
  const loginJar = jar.header();
  const res = await fetch(callback, { redirect: 'manual', headers: { cookie: loginJar } });
  jar.take(res);
  return { res, jar, callback, loginJar };
}

/** A provider and a loflow demo server that signs teachers in through it (client `loflow`). */
export async function signInServers(opts: { sessionTtlMs?: number; allowedDomains?: string[]; extraClients?: TestClient[] } = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const client = { client_id: 'loflow', client_secret: 'loflow-test-secret', redirect_uris: [`${url}/auth/callback`] };
  const provider = await startProvider([client, ...(opts.extraClients ?? [])]);
  const server = await demoServer(
    {
      port,
      auth: { teacherTokens: {} },
      oidc: { issuer: provider.issuer, clientId: client.client_id, clientSecret: client.client_secret, publicUrl: url, allowedDomains: opts.allowedDomains ?? ['school.example', 'elsewhere.example'], sessionTtlMs: opts.sessionTtlMs },
    },
    rosterWithEmails(),
  );
  return {
    provider,
    server,
    url,
    /** GET a loflow path with a cookie header. */
    get: (path: string, cookie = '') => fetch(`${url}${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} }),
    async close() {
      await server.close();
      await provider.close();
    },
  };
}
