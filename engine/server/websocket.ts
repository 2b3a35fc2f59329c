// WebSocket upgrades: student ingest at each websocket source's path, live dashboards at
// /v1/dashboards/<name>/<class>/live. Every request target, header and frame is untrusted: whatever is
// wrong with one (bad percent-encoding, an absolute-form URL, invalid UTF-8, an unmasked or oversized frame)
// ends that request or socket with a clear status and a metric, never the process.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Engine } from '../runtime.js';
import { auditUnavailable, type Access, type RecordAccess } from './audit-access.js';
import type { Auth } from './auth.js';
import type { DashboardHub } from './dashboard-hub.js';
import { WsIngestConnection } from './ingest-ws.js';
import type { Limits } from './limits.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import type { RateLimiter } from './rate-limit.js';
import { wsSubscriber } from './subscribers.js';

/** Async: a signed-in teacher's session cookie is unsealed and looked up before the upgrade is accepted. */
export type Authorize = (headers: Record<string, unknown>, query: Record<string, unknown>, name: string, group: string) => Access | Promise<Access>;

export interface WebSocketDeps {
  engine: Engine;
  auth: Auth;
  hub: DashboardHub;
  limits: Limits;
  limiter: RateLimiter;
  metrics: Metrics;
  log: Logger;
  authorize: Authorize;
  /** The audit hook: live subscriptions opened and closed (not the deltas pushed in between). */
  recordAccess: RecordAccess;
  /** What this node serves (`serve --role`): both by default. */
  serves?: { ingest: boolean; dashboards: boolean };
}

const statusText: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

/** A request target as a path and query, or why it is not one (only origin-form `/path?query` is served). */
export function parseTarget(raw: string | undefined): { path: string; query: URLSearchParams } | { error: string } {
  if (!raw || raw.charCodeAt(0) !== 47 /* / */ || raw.startsWith('//')) return { error: 'the request target must be a path starting with a single /' };
  try {
    const url = new URL(raw, 'http://localhost');
    return { path: url.pathname, query: url.searchParams };
  } catch {
    return { error: 'the request target is not a valid URL path' };
  }
}

/** An ingest key on an upgrade: `Authorization: Bearer`, `x-api-key`, or `?api_key=` (a browser cannot set headers). */
function ingestKeyOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.toLowerCase().startsWith('bearer ')) return h.slice(7).trim();
  const x = req.headers['x-api-key'];
  if (typeof x === 'string') return x;
  return query.get('api_key') ?? undefined;
}

export function attachWebSockets(listener: Server, deps: WebSocketDeps): { close(): void } {
  const { engine, auth, hub, limits, metrics, log } = deps;
  // Dashboard sockets only ever receive: a client's messages are ignored, so they may be small.
  const ingestWss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes, perMessageDeflate: false });
  const liveWss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
  const wsSources = () => new Map([...engine.pipeline.sources.values()].filter((s) => s.kind === 'websocket').map((s) => [s.path ?? '/wsapi/in/', s.name]));

  const refuse = (socket: Duplex, code: number, error: string, reason: string) => {
    metrics.refused.inc({ kind: 'upgrade', reason });
    if (!socket.writable) return socket.destroy();
    const body = JSON.stringify({ error });
    socket.end(`HTTP/1.1 ${code} ${statusText[code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  };

  /** A socket's errors end that socket; they are counted, logged at debug, and never thrown. */
  const guard = (ws: WebSocket, kind: 'ingest' | 'dashboard') =>
    ws.on('error', (err: Error & { code?: string }) => {
      metrics.wsClosed.inc({ kind, code: err.code ?? 'socket' });
      log.debug({ kind, err: err.message, code: err.code }, 'websocket closed on a protocol error');
    });

  const route = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = parseTarget(req.url);
    if ('error' in target) return refuse(socket, 400, target.error, 'bad_url');
    const { path, query } = target;
    const sources = wsSources();
    const source = sources.get(path) ?? sources.get(path.endsWith('/') ? path.slice(0, -1) : `${path}/`);
    const serves = deps.serves ?? { ingest: true, dashboards: true };
    if (source && !serves.ingest) return refuse(socket, 404, `this node takes no events (serve --role): connect to an ingest node`, 'not_served');
    if (source) {
      const keys = auth.sourceKeys(source);
      if (keys.size > 0) {
        const key = ingestKeyOf(req, query);
        if (!key) return refuse(socket, 401, `source '${source}' needs an API key (Authorization: Bearer <key>, x-api-key, or ?api_key=)`, 'no_key');
        if (!keys.has(key)) return refuse(socket, 403, 'unknown API key for this source', 'bad_key');
      }
      ingestWss.handleUpgrade(req, socket, head, (ws) => {
        guard(ws, 'ingest');
        new WsIngestConnection(ws, req, query, source, deps);
      });
      return;
    }
    const live = /^\/v1\/dashboards\/([^/]+)\/([^/]+)\/live$/.exec(path);
    if (!live) return refuse(socket, 404, `no WebSocket at ${path.slice(0, 200)}`, 'not_found');
    if (!serves.dashboards) return refuse(socket, 404, 'this node serves no dashboards (serve --role): connect to a dashboard node', 'not_served');
    let name: string;
    let group: string;
    try {
      [name, group] = [decodeURIComponent(live[1]), decodeURIComponent(live[2])];
    } catch {
      return refuse(socket, 400, 'bad percent-encoding in the dashboard or class name', 'bad_url');
    }
    const accept = async (a: Access) => {
      const recorded = deps.recordAccess('dashboard.subscribe', a, name, group);
      // A denial is answered at once (and recorded); an upgrade completes once its subscription is on record.
      if (!a.d) return refuse(socket, a.code!, a.error!, `http_${a.code}`);
      if (!(await recorded)) return refuse(socket, 503, auditUnavailable, 'audit');
      if (socket.destroyed) return void deps.recordAccess('dashboard.unsubscribe', a, name, group);
      const d = a.d;
      liveWss.handleUpgrade(req, socket, head, (ws) => {
        guard(ws, 'dashboard');
        metrics.connections.inc({ kind: 'dashboard' });
        const unsubscribe = hub.subscribe(d, group, wsSubscriber(ws, limits.subscriberBufferBytes));
        ws.on('close', () => {
          unsubscribe();
          metrics.connections.dec({ kind: 'dashboard' });
          void deps.recordAccess('dashboard.unsubscribe', a, name, group);
        });
      });
    };
    Promise.resolve(deps.authorize(req.headers, Object.fromEntries(query), name, group)).then(accept).catch((err: Error) => {
      log.warn({ err: err.message }, 'dashboard upgrade authorization failed');
      refuse(socket, 400, 'bad upgrade request', 'error');
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A reset before or during the handshake is the client's business, not an uncaught 'error'.
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    try {
      route(req, socket, head);
    } catch (err) {
      log.warn({ err: (err as Error).message, url: String(req.url).slice(0, 200) }, 'upgrade request failed');
      refuse(socket, 400, 'bad upgrade request', 'error');
    }
  };
  listener.on('upgrade', onUpgrade);
  return {
    close() {
      listener.off('upgrade', onUpgrade);
      for (const wss of [ingestWss, liveWss]) {
        for (const c of wss.clients) c.close(1001, 'server stopping');
        wss.close();
      }
    },
  };
}
