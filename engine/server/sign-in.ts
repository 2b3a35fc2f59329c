// Teacher sign-in with OpenID Connect. openid-client (a certified relying party) does the protocol: discovery,
// PKCE, and checking the ID token's signature, issuer, audience, expiry and nonce, and the callback's state
// and `iss`. hapi's own parts keep the session: @hapi/cookie (an iron-sealed cookie holding only a session id,
// validated against the server-side store) and @hapi/crumb (a CSRF token on every state-changing request
// that carries the session cookie).
import Cookie from '@hapi/cookie';
import Crumb from '@hapi/crumb';
import type Hapi from '@hapi/hapi';
import * as client from 'openid-client';
import type { CompiledPipeline } from '../types.js';
import type { Logger } from './logging.js';
import { domainAllowed, isLoopbackHttp, type OidcSettings } from './oidc-settings.js';
import { MemorySessionStore, safeNext, type Session, type SessionStore } from './sessions.js';
import { matchTeacher } from './teacher-match.js';

export const SESSION_COOKIE = 'loflow-session';
const LOGIN_COOKIE = 'loflow-login';

export interface SignIn {
  sessions: SessionStore;
  /** The session of a raw request's Cookie header (WebSocket upgrades, which hapi does not route). */
  sessionFromHeaders(headers: Record<string, unknown>): Promise<Session | undefined>;
}

/** A short plain-text refusal: the provider's error strings are untrusted, so bounded and never HTML. */
const refuse = (h: Hapi.ResponseToolkit, code: number, message: string) => h.response(`${message.slice(0, 300)}\n`).type('text/plain; charset=utf-8').code(code);

export async function registerSignIn(
  server: Hapi.Server,
  settings: OidcSettings,
  pipeline: () => CompiledPipeline,
  log: Logger,
  sessions: SessionStore = new MemorySessionStore(settings.sessionTtlMs ?? 8 * 3600_000),
): Promise<SignIn> {
  const isSecure = new URL(settings.publicUrl).protocol === 'https:';
  const redirectUri = `${settings.publicUrl}/auth/callback`;
  const password = await sessions.cookieSecret();

  // Discovery on first use, retried after a failure: the server starts even while the provider is down.
  let discovered: Promise<client.Configuration> | undefined;
  const config = () => {
    const issuer = new URL(settings.issuer);
    discovered ??= client
      .discovery(issuer, settings.clientId, settings.clientSecret, undefined, isLoopbackHttp(issuer) ? { execute: [client.allowInsecureRequests] } : undefined)
      .catch((err) => {
        discovered = undefined;
        throw err;
      });
    return discovered;
  };

  await server.register(Cookie);
  server.auth.strategy('session', 'cookie', {
    // Not cleared when the store is shared: a Redis outage would otherwise sign every teacher out (a cookie
    // whose session is gone is worth nothing anyway).
    // Lax, not Strict: the redirect back from the provider is a cross-site navigation that must carry the
    // sign-in cookie, and the first page after it the session. Every state change also needs the CSRF token.
    cookie: { name: SESSION_COOKIE, password, isSecure, isHttpOnly: true, isSameSite: 'Lax', path: '/', ttl: sessions.ttlMs, clearInvalid: sessions.kind === 'memory' },
    validate: async (_req: Hapi.Request, cookie: { sid?: unknown }) => {
      const s = await sessions.get(cookie?.sid);
      return s ? { isValid: true, credentials: { ...s, sid: cookie.sid } } : { isValid: false };
    },
  });
  server.auth.default({ strategy: 'session', mode: 'try' });
  server.state(LOGIN_COOKIE, { isSecure, isHttpOnly: true, isSameSite: 'Lax', path: '/auth', ttl: sessions.pendingTtlMs, encoding: 'none', ignoreErrors: true, clearInvalid: true });
  await server.register({
    plugin: Crumb,
    options: {
      key: 'loflow-csrf',
      restful: true,
      cookieOptions: { isSecure, isHttpOnly: true, isSameSite: 'Strict', path: '/', ignoreErrors: true },
      // Only a request carrying the session cookie can be forged by another site; token and key requests cannot.
      skip: (req: Hapi.Request) => !req.state?.[SESSION_COOKIE],
    },
  });

  const sessionOf = (req: Hapi.Request): (Session & { sid: string }) | undefined =>
    req.auth.isAuthenticated && req.auth.strategy === 'session' ? (req.auth.credentials as unknown as Session & { sid: string }) : undefined;

  server.route([
    {
      method: 'GET',
      path: '/auth/login',
      options: { auth: false },
      handler: async (req, h) => {
        let cfg: client.Configuration;
        try {
          cfg = await config();
        } catch (err) {
          log.warn({ err: (err as Error).message, issuer: settings.issuer }, 'sign-in provider discovery failed');
          return refuse(h, 502, 'the sign-in provider cannot be reached; try again in a minute');
        }
        const state = client.randomState();
        const nonce = client.randomNonce();
        const codeVerifier = client.randomPKCECodeVerifier();
        if (!(await sessions.putPending(state, { nonce, codeVerifier, next: safeNext(req.query.next) }))) return refuse(h, 503, 'too many sign-ins are in progress; try again in a minute').header('Retry-After', '60');
        const url = client.buildAuthorizationUrl(cfg, {
          redirect_uri: redirectUri,
          scope: 'openid email profile',
          state,
          nonce,
          code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
          code_challenge_method: 'S256',
        });
        return h.redirect(url.href).state(LOGIN_COOKIE, state);
      },
    },
    {
      method: 'GET',
      path: '/auth/callback',
      options: { auth: false },
      handler: async (req, h) => {
        const state = req.query.state;
        const bound = req.state?.[LOGIN_COOKIE];
        if (typeof req.query.error === 'string') return refuse(h, 401, `sign-in refused by the provider: ${req.query.error}`).unstate(LOGIN_COOKIE);
        // The state must be the one this browser started with (no login CSRF), and is good once (no replay).
        if (typeof state !== 'string' || state.length > 200 || typeof bound !== 'string' || bound !== state) return refuse(h, 400, 'this sign-in was not started in this browser: start again at /auth/login');
        const pending = await sessions.takePending(state);
        if (!pending) return refuse(h, 400, 'this sign-in has expired or was already used: start again at /auth/login').unstate(LOGIN_COOKIE);
        if (typeof req.query.code !== 'string' || req.query.code.length > 2048) return refuse(h, 400, 'the provider sent no authorization code').unstate(LOGIN_COOKIE);
        let claims: client.IDToken;
        let email: string | undefined;
        let emailVerified = false;
        try {
          const cfg = await config();
          const tokens = await client.authorizationCodeGrant(cfg, new URL(`${redirectUri}${req.url.search}`), {
            pkceCodeVerifier: pending.codeVerifier,
            expectedState: state,
            expectedNonce: pending.nonce,
            idTokenExpected: true,
          });
          claims = tokens.claims()!;
          // Providers that keep profile claims out of the ID token give them at userinfo (subject checked there).
          let profile: Record<string, unknown> = claims;
          if (claims.email === undefined && cfg.serverMetadata().userinfo_endpoint) profile = await client.fetchUserInfo(cfg, tokens.access_token, claims.sub);
          email = typeof profile.email === 'string' ? profile.email : undefined;
          emailVerified = profile.email_verified === true;
        } catch (err) {
          const e = err as Error & { code?: string; cause?: unknown };
          const why = [e.message, e.code, e.cause instanceof Error ? e.cause.message : typeof (e.cause as { error?: unknown })?.error === 'string' ? (e.cause as { error: string }).error : undefined].filter(Boolean).join(': ');
          log.warn({ err: why }, 'sign-in failed');
          return refuse(h, 401, `sign-in failed: ${why}`).unstate(LOGIN_COOKIE);
        }
        if (!domainAllowed(settings.allowedDomains, email)) return refuse(h, 403, `accounts of ${email ? `'${email.slice(email.lastIndexOf('@') + 1)}'` : 'no email'} may not sign in here`).unstate(LOGIN_COOKIE);
        const match = matchTeacher(pipeline(), { sub: claims.sub, email, emailVerified });
        if ('error' in match) {
          log.info({ sub: claims.sub, email, emailVerified }, 'sign-in refused: not on a roster');
          return refuse(h, 403, match.error).unstate(LOGIN_COOKIE);
        }
        const { id } = await sessions.create({ teacher: match.teacher, email, subject: claims.sub });
        log.info({ teacher: match.teacher }, 'teacher signed in');
        req.cookieAuth.set({ sid: id });
        return h.redirect(pending.next).unstate(LOGIN_COOKIE);
      },
    },
    {
      method: 'POST',
      path: '/auth/logout',
      handler: async (req, h) => {
        const s = sessionOf(req);
        if (s) await sessions.end(s.sid);
        req.cookieAuth.clear();
        return h.response({ signed_out: true }).unstate('loflow-csrf');
      },
    },
    {
      method: 'GET',
      path: '/auth/me',
      handler: (req, h) => {
        const s = sessionOf(req);
        if (!s) return h.response({ error: 'not signed in', login: '/auth/login' }).code(401);
        // The CSRF token for this session's POSTs (the cookie is HttpOnly: the page learns it here).
        return { teacher: s.teacher, email: s.email, expires: new Date(s.expires).toISOString(), csrf: (req.plugins as Record<string, unknown>).crumb };
      },
    },
  ]);

  return {
    sessions,
    async sessionFromHeaders(headers) {
      if (typeof headers.cookie !== 'string') return undefined;
      try {
        const parsed = (await server.states.parse(headers.cookie)) as unknown as { states?: Record<string, unknown> };
        const states: Record<string, unknown> = parsed.states ?? (parsed as Record<string, unknown>);
        const cookie = states[SESSION_COOKIE] as { sid?: unknown } | undefined;
        return await sessions.get(cookie?.sid);
      } catch {
        return undefined;
      }
    },
  };
}
