// `loflow serve`: ingest (HTTP batches, Learning Observer WebSocket) and teacher dashboards (JSON, SSE,
// WebSocket, a web page) on one hapi server.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Hapi from '@hapi/hapi';
import { packageRoot } from '../paths.js';
import type { Engine } from '../runtime.js';
import type { CompiledPipeline, DashboardSpec } from '../types.js';
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
import { attachWebSockets } from './websocket.js';
import { isUnavailable } from '../unavailable.js';

export interface ServerOptions {
  pipeline: CompiledPipeline;
  engine: Engine;
  port?: number;
  host?: string;
  auth?: AuthConfig;
  limits?: Partial<Limits>;
  /** Demo mode: every roster teacher gets the token `demo-<teacher>`. */
  demo?: boolean;
  /** Structured logger (default: pino on stderr at LOFLOW_LOG_LEVEL, else info). */
  logger?: Logger;
  /** hapi plugins to register (e.g. the tap plugin), each given { engine }. */
  plugins?: Array<{ name: string; register: (server: Hapi.Server, options: { engine: Engine }) => void | Promise<void> }>;
}

export interface RunningServer {
  url: string;
  server: Hapi.Server;
  auth: Auth;
  hub: DashboardHub;
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
        const t = roster.column(m, authConfig.teacherColumn ?? 'teacher');
        if (t) tokens.set(`demo-${t}`, t);
      }
    }
    return tokens;
  };
  const auth = new Auth(pipeline, authConfig);
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
  const server = Hapi.server({ port: opts.port ?? 8080, host: opts.host ?? '127.0.0.1', routes: { cors: false } });

  for (const source of pipeline.sources.values()) {
    if (source.kind === 'http') server.route(httpIngestRoute(source, engine, auth, limits, limiter, metrics));
  }

  /** The dashboard and class a teacher token may read, or an HTTP error. */
  const authorize = (headers: Record<string, unknown>, query: Record<string, unknown>, name: string, group: string): { d?: DashboardSpec; code?: number; error?: string } => {
    const token = tokenOf(headers, query);
    const teacher = auth.teacherOf(token);
    if (!teacher) return { code: 401, error: token ? 'not a teacher token (ingest keys cannot read dashboards)' : 'a teacher token is needed (Authorization: Bearer <token> or ?token=)' };
    // engine.pipeline, not the startup one: `serve --watch` may have swapped in an edited version.
    const live = engine.pipeline;
    const d = live.dashboards.get(name);
    if (!d) return { code: 404, error: `unknown dashboard '${name}'` };
    const roster = live.aggregations.get(d.aggregation)!.groupBy.lookup!.roster;
    if (!roster.groups().includes(group)) return { code: 404, error: `unknown class '${group}'` };
    if (!auth.classesOf(teacher, roster).includes(group)) return { code: 403, error: `teacher '${teacher}' does not teach '${group}'` };
    return { d };
  };

  server.route([
    {
      method: 'GET',
      path: '/v1/dashboards',
      handler: (req, h) => {
        const teacher = auth.teacherOf(tokenOf(req.headers, req.query));
        if (!teacher) return h.response({ error: 'a teacher token is needed' }).code(401);
        return {
          teacher,
          dashboards: [...engine.pipeline.dashboards.values()].map((d) => ({
            name: d.name,
            aggregation: d.aggregation,
            min_interval_ms: d.minIntervalMs,
            columns: engine.pipeline.aggregations.get(d.aggregation)!.columns.map((c) => c.name),
            classes: auth.classesOf(teacher, engine.pipeline.aggregations.get(d.aggregation)!.groupBy.lookup!.roster),
          })),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}',
      handler: async (req, h) => {
        const a = authorize(req.headers, req.query, String(req.params.name), String(req.params.group));
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
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
      handler: (req, h) => {
        const a = authorize(req.headers, req.query, String(req.params.name), String(req.params.group));
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        const stream = new PassThrough();
        const unsubscribe = hub.subscribe(a.d, String(req.params.group), sseSubscriber(stream, limits.subscriberBufferBytes, () => req.raw.req.socket.destroy()));
        metrics.connections.inc({ kind: 'sse' });
        req.raw.req.on('close', () => {
          unsubscribe();
          metrics.connections.dec({ kind: 'sse' });
          stream.end();
        });
        return h.response(stream).compressed('identity').type('text/event-stream').header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
      },
    },
    {
      method: 'GET',
      path: '/healthz',
      handler: async (_req, h) => {
        const health = await engine.checkHealth();
        const s = engine.stats();
        return h
          .response({ ok: health.ok, error: health.error, store: health.storeDown ? 'unavailable' : 'ok', stalled_s: Math.floor(health.stalledMs / 1000), queue_depth: s.queueDepth, processed: s.processed, committed_offset: s.committedOffset, log_end: s.logEnd, archive_skipped: s.unarchived })
          .code(health.ok ? 200 : 503);
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async (_req, h) => h.response(await metrics.registry.metrics()).type(metrics.registry.contentType),
    },
    { method: 'GET', path: '/', handler: (_req, h) => h.response(readFileSync(join(publicDir, 'index.html'))).type('text/html; charset=utf-8') },
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
  server.route(studentRoutes({ engine, authorize, feed, limits, metrics }));

  server.route(tapRoute(engine, auth));

  for (const p of opts.plugins ?? []) await server.register({ plugin: p, options: { engine } });

  // WebSockets: student ingest at websocket sources' paths, dashboard live updates at .../live.
  const sockets = attachWebSockets(server.listener, { engine, auth, hub, limits, limiter, metrics, log, authorize });

  logRequests(log, server);
  const unlogEngine = logEngine(log, engine);
  await server.start();
  const url = `http://${server.info.host}:${server.info.port}`;
  log.info({ url, pipeline: pipeline.name, state: engine.store.kind, log: engine.log.kind }, 'loflow server started');
  return {
    url,
    server,
    auth,
    hub,
    async stop() {
      log.info('stopping: closing connections, then draining and committing');
      unlogEngine();
      engine.off('reload', onReload);
      hub.close();
      feed.close();
      sockets.close();
      await server.stop({ timeout: 2000 });
    },
  };
}
