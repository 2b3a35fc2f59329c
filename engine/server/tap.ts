// GET /v1/tap/{node}: a live, sampled view of one node for debugging, as Server-Sent Events. A source or
// derived stream shows its events; a reducer shows its state changes (the key and its view after a
// batch). Operators only (admin token). A tap never slows ingest: each tap takes at most `rate` items
// per second (token bucket) and drops the rest, also when the client reads too slowly; every message
// says how many were dropped since the one before.
import { PassThrough } from 'node:stream';
import type { ServerRoute } from '@hapi/hapi';
import type { AuditLog } from '../audit/audit-log.js';
import { pseudonymOf, tokenId } from '../audit/record.js';
import { auditUnavailable } from './audit-access.js';
import type { BatchInfo, Engine } from '../runtime.js';
import type { LoEvent } from '../types.js';
import { tokenOf, type Auth } from './auth.js';
import { RateLimiter } from './rate-limit.js';

/** Unsent bytes beyond which a slow client's items are dropped instead of buffered. */
const MAX_BUFFERED = 1 << 20;

export function tapRoute(engine: Engine, auth: Auth, audit?: AuditLog): ServerRoute {
  return {
    method: 'GET',
    path: '/v1/tap/{node}',
    handler: async (req, h) => {
      const token = tokenOf(req.headers, req.query);
      const node = String(req.params.node);
      const admin = auth.isAdmin(token);
      // Raw events are student data: a tap (or an attempt) is on record first; a key only as a pseudonym.
      if (token && audit) {
        const key: Record<string, string> = typeof req.query.key === 'string' && req.query.key ? { key: pseudonymOf(audit.dir, req.query.key) } : {};
        const recorded = await audit.record({ actor: admin ? 'admin' : `token:${tokenId(token)}`, token: tokenId(token), action: 'tap.read', target: { pipeline: engine.pipeline.name, node, ...key }, result: admin ? 'ok' : 'denied', ...(admin ? {} : { reason: '403 not an admin token' }) }).then(() => true, () => false);
        if (admin && !recorded) return h.response({ error: auditUnavailable }).code(503);
      }
      if (!token) return h.response({ error: 'an admin token is needed (Authorization: Bearer <token>; serve --admin-token or env LOFLOW_ADMIN_TOKEN)' }).code(401);
      if (!admin) return h.response({ error: 'not an admin token: teacher tokens and ingest keys cannot tap' }).code(403);
      const pipeline = engine.pipeline;
      const reducer = pipeline.reducers.find((r) => r.name === node);
      if (!reducer && !pipeline.streams.has(node)) {
        const names = [...pipeline.streams.keys(), ...pipeline.reducers.map((r) => r.name)];
        return h.response({ error: `unknown node '${node}' (streams and reducers: ${names.join(', ')})` }).code(404);
      }
      const q = req.query as Record<string, string | undefined>;
      const key = q.key || undefined;
      const limit = q.limit === undefined ? Infinity : Number(q.limit);
      const rate = q.rate === undefined ? 20 : Number(q.rate);
      if (!(limit > 0) || !(rate > 0)) return h.response({ error: 'limit and rate must be positive numbers' }).code(400);

      const stream = new PassThrough();
      const bucket = new RateLimiter(rate, Math.max(1, Math.ceil(rate)));
      let sent = 0;
      let dropped = 0;
      let closed = false;
      const send = (m: Record<string, unknown>) => {
        if (closed) return;
        if (stream.writableLength > MAX_BUFFERED || bucket.take('tap', 1) !== 0) {
          dropped++;
          return;
        }
        stream.write(`data: ${JSON.stringify({ ...m, dropped })}\n\n`);
        dropped = 0;
        if (++sent >= limit) close();
      };
      // An event is at key K when any of the pipeline's keys (student, class, ...) reads K from it.
      const keys = [...pipeline.keys.values()];
      const matches = (e: LoEvent) => key === undefined || keys.some((k) => k.extract(e) === key);
      const onEvents = (s: string, events: LoEvent[]) => {
        if (s !== node) return;
        for (const event of events) {
          if (closed) return;
          if (matches(event)) send({ type: 'event', stream: s, event });
        }
      };
      const onBatch = (b: BatchInfo) => {
        const changed = b.changed.get(node);
        if (!changed) return;
        for (const k of key === undefined ? changed : changed.has(key) ? [key] : []) {
          if (closed) return;
          send({ type: 'state', reducer: node, key: k, view: engine.view(node, k) ?? null, offset: b.to });
        }
      };
      const close = () => {
        if (closed) return;
        closed = true;
        engine.off('ingested', onEvents);
        engine.off('emit', onDerived);
        engine.off('batch', onBatch);
        stream.end();
      };
      const onDerived = (s: string, event: LoEvent) => onEvents(s, [event]);
      if (reducer) engine.on('batch', onBatch);
      else if (pipeline.sources.has(node)) engine.on('ingested', onEvents);
      else engine.on('emit', onDerived);
      stream.write(`data: ${JSON.stringify({ type: 'tap', node, kind: reducer ? 'reducer' : 'stream', key: key ?? null, rate, limit: Number.isFinite(limit) ? limit : null })}\n\n`);
      req.raw.req.on('close', close);
      return h.response(stream).compressed('identity').type('text/event-stream').header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
    },
  };
}
