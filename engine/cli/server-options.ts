// The startServer options every serving role takes from the same flags (--port, --host, sign-in, tokens,
// WebSocket identity), so `serve --role all` and the ingest/dashboard nodes read them alike. Sign-in
// sessions go to Redis when the pipeline's state is there: every node behind one address shares them.
import { join } from 'node:path';
import type { IdentityMethod } from '../server/auth.js';
import type { ServerOptions } from '../server/index.js';
import type { OidcSettings } from '../server/oidc-settings.js';
import { openSessionStore } from '../server/open-sessions.js';

export async function commonServerOptions(
  options: Record<string, string | boolean | undefined>,
  ctx: { oidc?: OidcSettings; wsMethods?: IdentityMethod[]; data: string; pipeline: string; stateUrl?: string },
): Promise<Pick<ServerOptions, 'port' | 'host' | 'demo' | 'oidc' | 'tokensFile' | 'auth' | 'sessions'>> {
  const sessions = ctx.oidc ? await openSessionStore(options.sessions ?? process.env.LOFLOW_SESSIONS, ctx.stateUrl, ctx.pipeline, ctx.oidc.sessionTtlMs) : undefined;
  return {
    sessions,
    port: options.port === undefined ? 8080 : Number(options.port),
    host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    demo: options['demo-tokens'] === true,
    oidc: ctx.oidc,
    tokensFile: join(ctx.data, 'tokens.json'),
    auth: { ...(typeof options['admin-token'] === 'string' ? { adminTokens: [options['admin-token']] } : {}), wsMethods: ctx.wsMethods, requireAuthenticated: options['ws-require-auth'] === true },
  };
}
