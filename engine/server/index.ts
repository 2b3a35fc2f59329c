// `loflow serve`: ingest (HTTP batches, Learning Observer WebSocket) and teacher dashboards (JSON, SSE,
// WebSocket, a web page) on one hapi server.
import { cellValues } from '../roster/teachers-cell.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Hapi from '@hapi/hapi';
import { packageRoot } from '../paths.js';
import type { Engine } from '../runtime.js';
import type { CompiledPipeline, DashboardSpec } from '../types.js';
import { TokenStore } from './api-tokens.js';
import type { AuditLog } from '../audit/audit-log.js';
import { eraseRoute } from './erase-route.js';
import { accessRecorder, auditUnavailable, type Access } from './audit-access.js';
import { Auth, tokenOf, type AuthConfig } from './auth.js';
import { DashboardHub } from './dashboard-hub.js';
import { createLogger, logEngine, logRequests, type Logger } from './logging.js';
import { httpIngestRoute } from './ingest-http.js';
import { defaultLimits, type Limits } from './limits.js';
import { createMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { StudentFeed } from './student-feed.js';
import { studentRoutes } from './student-routes.js';
import { sseSubscriber } from './subscribers.js';
import { tapRoute } from './tap.js';
import type { OidcSettings } from './oidc-settings.js';
import type { Session, SessionStore } from './sessions.js';
import type { SignIn } from './sign-in.js';
import { attachWebSockets } from './websocket.js';
import { isUnavailable } from '../unavailable.js';

export interface ServerOptions {
  pipeline: CompiledPipeline;
  engine: Engine;
  port?: number;
  host?: string;
  auth?: AuthConfig;
  limits?: Partial<Limits>;
  /** Teacher sign-in with OpenID Connect (none: dashboards by token only). */
  oidc?: OidcSettings;
  /** Where sign-in sessions live (default: this process's memory); closed with the server. */
  sessions?: SessionStore;
  /** The hashed script tokens (`loflow token create`), re-read when it changes. */
  tokensFile?: string;
  /** Demo mode: every roster teacher gets the token `demo-<teacher>`. */
  demo?: boolean;
  /** Structured logger (default: pino on stderr at LOFLOW_LOG_LEVEL, else info). */
  logger?: Logger;
  /** The audit log of dashboard reads (`serve` always gives one: README "Audit"); none: nothing recorded. */
  audit?: AuditLog;
  /** What this node serves (`serve --role`): ingest routes, dashboard routes; both by default. */
  serves?: { ingest: boolean; dashboards: boolean };
  /** hapi plugins to register (e.g. the tap plugin), each given { engine }. */
  plugins?: Array<{ name: string; register: (server: Hapi.Server, options: { engine: Engine }) => void | Promise<void> }>;
}

export interface RunningServer {
  url: string;
  server: Hapi.Server;
  auth: Auth;
  hub: DashboardHub;
  signIn?: SignIn;
  stop(): Promise<void>;
}

const publicDir = join(packageRoot, 'engine/server/public');
/** The page's script modules: only these names are served (no path from a request reaches the file system). */
const pageScripts = new Set(readdirSync(publicDir).filter((f) => /^[a-z-]+\.js$/.test(f)).map((f) => f.slice(0, -3)));

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { pipeline, engine } = opts;
  const limits: Limits = { ...defaultLimits, ...opts.limits };
  const log = opts.logger ?? createLogger();
  const authConfig: AuthConfig = { ...opts.auth };
  const demoTokens = (p: CompiledPipeline) => {
    const tokens = new Map<string, string>();
    for (const roster of p.rosters.values()) {
      for (const g of roster.groups()) for (const m of roster.members(g)) {
        for (const t of cellValues(roster.column(m, authConfig.teacherColumn ?? 'teacher'))) if (t) tokens.set(`demo-${t}`, t);
      }
    }
    return tokens;
  };
  const auth = new Auth(pipeline, authConfig);
  if (opts.tokensFile) auth.tokens = new TokenStore(opts.tokensFile);
  // Configured tokens win over demo ones of the same name.
  const addDemoTokens = (p: CompiledPipeline) => {
    for (const [token, t] of demoTokens(p)) if (!auth.teacherTokens.has(token)) auth.teacherTokens.set(token, t);
  };
  if (opts.demo) addDemoTokens(pipeline);
  // A live swap may change sources' api_keys: auth reads the pipeline in effect. A reloaded roster may
  // name a new teacher: in demo mode they get their token too (configured tokens are never replaced).
  const onReload = (next: CompiledPipeline) => {
    auth.pipeline = next;
    if (opts.demo) addDemoTokens(next);
  };
  engine.on('reload', onReload);
  const metrics = createMetrics(engine);
  const limiter = new RateLimiter(limits.ratePerSec, limits.rateBurst);
  // Entering and leaving overload at info; every step of the adaptive interval in between at debug.
  const hub = new DashboardHub(engine, metrics, (dashboard, from, to) => {
    const min = engine.pipeline.dashboards.get(dashboard)?.minIntervalMs;
    const level = from === min || to === min ? 'info' : 'debug';
    log[level]({ dashboard, from_ms: from, to_ms: to }, to > from ? 'dashboard refresh slowed down (overload)' : to === min ? 'dashboard refresh back to normal' : 'dashboard refresh sped up');
  });
  const feed = new StudentFeed(engine, { maxSubscribers: limits.maxDrillDowns });
  const recordAccess = accessRecorder(opts.audit, engine, log);
  const server = Hapi.server({ port: opts.port ?? 8080, host: opts.host ?? '127.0.0.1', routes: { cors: false } });
  // Before any route: sign-in makes the session strategy every route's (optional) default.
  // Loaded only when configured: the OIDC client libraries add start-up time every other server would pay.
  const signIn = opts.oidc ? await (await import('./sign-in.js')).registerSignIn(server, opts.oidc, () => engine.pipeline, log, opts.sessions) : undefined;
  const sessionOf = (req: Hapi.Request) => (req.auth.isAuthenticated && req.auth.strategy === 'session' ? (req.auth.credentials as unknown as Session) : undefined);

  const serves = opts.serves ?? { ingest: true, dashboards: true };
  for (const source of pipeline.sources.values()) {
    if (source.kind === 'http' && serves.ingest) server.route(httpIngestRoute(source, engine, auth, limits, limiter, metrics));
  }

  /** The dashboard and class a teacher token may read, or an HTTP error. */
  const authorize = (headers: Record<string, unknown>, query: Record<string, unknown>, name: string, group: string, session?: Session): Access => {
    const token = tokenOf(headers, query);
    const principal = auth.principalOf(token, session);
    if (!principal) return { token, code: 401, error: token ? 'not a teacher token (ingest keys cannot read dashboards)' : `a teacher token is needed (Authorization: Bearer <token> or ?token=)${signIn ? ', or sign in at /auth/login' : ''}` };
    const teacher = principal.teacher;
    const who = { teacher, token };
    // engine.pipeline, not the startup one: `serve --watch` may have swapped in an edited version.
    const live = engine.pipeline;
    const d = live.dashboards.get(name);
    if (!d) return { ...who, code: 404, error: `unknown dashboard '${name}'` };
    const roster = live.aggregations.get(d.aggregation)!.groupBy.lookup!.roster;
    if (!roster.groups().includes(group)) return { ...who, code: 404, error: `unknown class '${group}'` };
    if (!auth.mayRead(principal, roster, group)) return { ...who, code: 403, error: principal.scope && !principal.scope.has(group) ? `this token is not for class '${group}'` : `teacher '${teacher}' does not teach '${group}'` };
    return { ...who, d };
  };

  const dashboardRoutes: Hapi.ServerRoute[] = [
    {
      method: 'GET',
      path: '/v1/dashboards',
      handler: (req, h) => {
        const who = auth.principalOf(tokenOf(req.headers, req.query), sessionOf(req));
        if (!who) return h.response({ error: 'a teacher token is needed', ...(signIn ? { login: '/auth/login' } : {}) }).code(401);
        return {
          teacher: who.teacher,
          dashboards: [...engine.pipeline.dashboards.values()].map((d) => ({
            name: d.name,
            aggregation: d.aggregation,
            min_interval_ms: d.minIntervalMs,
            columns: engine.pipeline.aggregations.get(d.aggregation)!.columns.map((c) => c.name),
            classes: auth.classesOf(who, engine.pipeline.aggregations.get(d.aggregation)!.groupBy.lookup!.roster),
          })),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}',
      handler: async (req, h) => {
        const a = authorize(req.headers, req.query, String(req.params.name), String(req.params.group), sessionOf(req));
        const recorded = await recordAccess('dashboard.read', a, String(req.params.name), String(req.params.group));
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        if (!recorded) return h.response({ error: auditUnavailable }).code(503);
        try {
          return await hub.snapshot(a.d, String(req.params.group));
        } catch (err) {
          // The class's states could not be read from the store (after a restart): never a partial table.
          if (isUnavailable(err)) return h.response({ error: `state store unavailable: ${(err as Error).message}; retry` }).code(503).header('Retry-After', '2');
          throw err;
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}/events',
      handler: async (req, h) => {
        const [name, group] = [String(req.params.name), String(req.params.group)];
        const a = authorize(req.headers, req.query, name, group, sessionOf(req));
        const recorded = await recordAccess('dashboard.subscribe', a, name, group);
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        if (!recorded) return h.response({ error: auditUnavailable }).code(503);
        const stream = new PassThrough();
        const unsubscribe = hub.subscribe(a.d, String(req.params.group), sseSubscriber(stream, limits.subscriberBufferBytes, () => req.raw.req.socket.destroy()));
        metrics.connections.inc({ kind: 'sse' });
        req.raw.req.on('close', () => {
          unsubscribe();
          void recordAccess('dashboard.unsubscribe', a, name, group);
          metrics.connections.dec({ kind: 'sse' });
          stream.end();
        });
        return h.response(stream).compressed('identity').type('text/event-stream').header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
      },
    },
  ];
  if (serves.dashboards) server.route(dashboardRoutes);
  server.route([
    {
      method: 'GET',
      path: '/healthz',
      handler: async (_req, h) => {
        const health = await engine.checkHealth();
        const s = engine.stats();
        return h
          .response({ ok: health.ok, error: health.error, store: health.storeDown ? 'unavailable' : 'ok', stalled_s: Math.floor(health.stalledMs / 1000), queue_depth: s.queueDepth, processed: s.processed, committed_offset: s.committedOffset, log_end: s.logEnd, archive_skipped: s.unarchived, archive_backlog: s.archiveBacklog })
          .code(health.ok ? 200 : 503);
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async (_req, h) => h.response(await metrics.registry.metrics()).type(metrics.registry.contentType),
    },
    { method: 'GET', path: '/', handler: (_req, h) => h.response(readFileSync(join(publicDir, 'index.html'))).type('text/html; charset=utf-8') },
    // The page's modules and session.js (sign-in status): only the scripts in public/.
    {
      method: 'GET',
      path: '/{file}.js',
      handler: (req, h) => {
        const file = String(req.params.file);
        if (!pageScripts.has(file)) return h.response({ error: 'not found' }).code(404);
        return h.response(readFileSync(join(publicDir, `${file}.js`))).type('text/javascript; charset=utf-8');
      },
    },
  ]);
  if (serves.dashboards) server.route(studentRoutes({ engine, authorize, sessionOf, recordAccess, feed, limits, metrics }));

  // The tap and erasure need the process that applies events (--role all), not an ingest or dashboard node.
  if (serves.dashboards && serves.ingest) {
    server.route(tapRoute(engine, auth, opts.audit));
    server.route(eraseRoute(engine, auth, opts.audit));
  }

  for (const p of opts.plugins ?? []) await server.register({ plugin: p, options: { engine } });

  // WebSockets: student ingest at websocket sources' paths, dashboard live updates at .../live.
  // A session cookie rides along on any site's WebSocket: it counts only from a page of this server's origin.
  const wsAuthorize = async (headers: Record<string, unknown>, query: Record<string, unknown>, name: string, group: string) => {
    const sameOrigin = typeof headers.origin !== 'string' || headers.origin === `http://${headers.host}` || headers.origin === `https://${headers.host}` || headers.origin === (opts.oidc && new URL(opts.oidc.publicUrl).origin);
    return authorize(headers, query, name, group, sameOrigin ? await signIn?.sessionFromHeaders(headers) : undefined);
  };
  const sockets = attachWebSockets(server.listener, { engine, auth, hub, limits, limiter, metrics, log, authorize: wsAuthorize, recordAccess, serves });

  logRequests(log, server);
  const unlogEngine = logEngine(log, engine);
  try {
    await server.start();
  } catch (err) {
    // Port taken, say: leave the engine as it was, so the caller can try another port or stop cleanly.
    unlogEngine();
    engine.off('reload', onReload);
    hub.close();
    sockets.close();
    throw err;
  }
  const url = `http://${server.info.host}:${server.info.port}`;
  log.info({ url, pipeline: pipeline.name, state: engine.store.kind, log: engine.log.kind }, 'loflow server started');
  return {
    url,
    server,
    auth,
    hub,
    signIn,
    async stop() {
      log.info('stopping: closing connections, then draining and committing');
      unlogEngine();
      engine.off('reload', onReload);
      hub.close();
      feed.close();
      sockets.close();
      await server.stop({ timeout: 2000 });
      await opts.sessions?.close();
    },
  };
}
