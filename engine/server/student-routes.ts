// The drill-down API, under the dashboard's own teacher check (a teacher reads only the students of a class
// they teach: 401 without a teacher token, 403 for another teacher's class, 404 for a student not in it):
//   GET /v1/dashboards/{name}/{group}/students                  the class's students with their names
//   GET /v1/dashboards/{name}/{group}/students/{member}         one student's detail (student-detail.ts)
//   GET /v1/dashboards/{name}/{group}/students/{member}/events  the same detail, live (SSE)
import { PassThrough } from 'node:stream';
import type { ServerRoute } from '@hapi/hapi';
import type { Engine } from '../runtime.js';
import type { DashboardSpec } from '../types.js';
import { isUnavailable } from '../unavailable.js';
import type { Limits } from './limits.js';
import type { Metrics } from './metrics.js';
import { displayName, MAX_MEMBER_CHARS, rosterOf, studentDetail } from './student-detail.js';
import type { StudentFeed } from './student-feed.js';
import { sseSubscriber } from './subscribers.js';
import type { Authorize } from './websocket.js';

export interface StudentRouteDeps {
  engine: Engine;
  authorize: Authorize;
  feed: StudentFeed;
  limits: Limits;
  metrics: Metrics;
}

type Req = { headers: Record<string, unknown>; query: Record<string, unknown>; params: Record<string, string> };

/** The dashboard and student a request may read, or its HTTP error. */
function authorizeStudent(deps: StudentRouteDeps, req: Req): { d?: DashboardSpec; member?: string; code?: number; error?: string } {
  const a = deps.authorize(req.headers, req.query, String(req.params.name), String(req.params.group));
  if (!a.d) return a;
  const member = String(req.params.member);
  if (member.length > MAX_MEMBER_CHARS) return { code: 400, error: `a student id is at most ${MAX_MEMBER_CHARS} characters` };
  // Membership, not a lookup by id on an object: `__proto__` or `constructor` is just no student.
  if (!rosterOf(deps.engine, a.d).members(String(req.params.group)).includes(member)) return { code: 404, error: `no student '${member.slice(0, 64)}' in class '${String(req.params.group).slice(0, 64)}'` };
  return { d: a.d, member };
}

const unavailable = (err: unknown) => `state store unavailable: ${(err as Error).message}; retry`;

export function studentRoutes(deps: StudentRouteDeps): ServerRoute[] {
  const { engine, feed, limits, metrics } = deps;
  return [
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}/students',
      handler: (req, h) => {
        const a = deps.authorize(req.headers, req.query, String(req.params.name), String(req.params.group));
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        const roster = rosterOf(engine, a.d);
        return { group: req.params.group, students: roster.members(String(req.params.group)).map((member) => ({ member, name: displayName(roster, member) })) };
      },
    },
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}/students/{member}',
      handler: async (req, h) => {
        const a = authorizeStudent(deps, req as unknown as Req);
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        try {
          await engine.ensureLoaded(a.d.aggregation, String(req.params.group));
        } catch (err) {
          if (isUnavailable(err)) return h.response({ error: unavailable(err) }).code(503).header('Retry-After', '2');
          throw err;
        }
        return h.response(studentDetail(engine, a.d, String(req.params.group), a.member!)).header('cache-control', 'no-store');
      },
    },
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}/students/{member}/events',
      handler: (req, h) => {
        const a = authorizeStudent(deps, req as unknown as Req);
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        const stream = new PassThrough();
        const unsubscribe = feed.subscribe(a.d, String(req.params.group), a.member!, sseSubscriber(stream, limits.subscriberBufferBytes, () => req.raw.req.socket.destroy()));
        if (!unsubscribe) {
          metrics.refused.inc({ kind: 'drilldown', reason: 'full' });
          return h.response({ error: 'too many open drill-downs on this server; retry' }).code(503).header('Retry-After', '5');
        }
        metrics.connections.inc({ kind: 'sse' });
        req.raw.req.on('close', () => {
          unsubscribe();
          metrics.connections.dec({ kind: 'sse' });
          stream.end();
        });
        return h.response(stream).compressed('identity').type('text/event-stream').header('cache-control', 'no-store').header('x-accel-buffering', 'no');
      },
    },
  ];
}
