// The drill-down API, under the dashboard's own teacher check (a teacher reads only the students of a class
// they teach: 401 without a teacher token or session, 403 for another teacher's class, 404 for a student not
// in it), each read recorded in the audit log first (503 when it cannot be):
//   GET /v1/dashboards/{name}/{group}/students                  the class's students with their names
//   GET /v1/dashboards/{name}/{group}/students/{member}         one student's detail (student-detail.ts)
//   GET /v1/dashboards/{name}/{group}/students/{member}/events  the same detail, live (SSE)
import { PassThrough } from 'node:stream';
import type { Request, ServerRoute } from '@hapi/hapi';
import type { Engine } from '../runtime.js';
import { isUnavailable } from '../unavailable.js';
import { auditUnavailable, type Access, type RecordAccess } from './audit-access.js';
import type { Limits } from './limits.js';
import type { Metrics } from './metrics.js';
import { displayName, MAX_MEMBER_CHARS, rosterOf, studentDetail } from './student-detail.js';
import type { Session } from './sessions.js';
import type { StudentFeed } from './student-feed.js';
import { sseSubscriber } from './subscribers.js';

export interface StudentRouteDeps {
  engine: Engine;
  /** The dashboards' own check (token or signed-in session). */
  authorize: (headers: Record<string, unknown>, query: Record<string, unknown>, name: string, group: string, session?: Session) => Access;
  sessionOf: (req: Request) => Session | undefined;
  /** The audit log: every drill-down read is recorded (the student as a pseudonym) before it is served. */
  recordAccess: RecordAccess;
  feed: StudentFeed;
  limits: Limits;
  metrics: Metrics;
}

/** The dashboard and student a request may read (recorded in the audit log, allowed or not), or its HTTP error. */
async function authorizeStudent(deps: StudentRouteDeps, req: Request): Promise<Access & { member?: string }> {
  const [name, group, member] = [String(req.params.name), String(req.params.group), String(req.params.member)];
  const a: Access & { member?: string } = deps.authorize(req.headers, req.query, name, group, deps.sessionOf(req));
  let checked: Access & { member?: string } = a;
  if (a.d && member.length > MAX_MEMBER_CHARS) checked = { ...a, d: undefined, code: 400, error: `a student id is at most ${MAX_MEMBER_CHARS} characters` };
  // Membership, not a lookup by id on an object: `__proto__` or `constructor` is just no student.
  else if (a.d && !rosterOf(deps.engine, a.d).members(group).includes(member)) checked = { ...a, d: undefined, code: 404, error: `no student '${member.slice(0, 64)}' in class '${group.slice(0, 64)}'` };
  else if (a.d) checked = { ...a, member };
  const recorded = await deps.recordAccess('student.read', checked, name, group, member.slice(0, MAX_MEMBER_CHARS));
  if (checked.d && !recorded) return { code: 503, error: auditUnavailable };
  return checked;
}

const unavailable = (err: unknown) => `state store unavailable: ${(err as Error).message}; retry`;

export function studentRoutes(deps: StudentRouteDeps): ServerRoute[] {
  const { engine, feed, limits, metrics } = deps;
  return [
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}/students',
      handler: async (req, h) => {
        const a = deps.authorize(req.headers, req.query, String(req.params.name), String(req.params.group), deps.sessionOf(req));
        const recorded = await deps.recordAccess('dashboard.read', a, String(req.params.name), String(req.params.group));
        if (!a.d) return h.response({ error: a.error }).code(a.code!);
        if (!recorded) return h.response({ error: auditUnavailable }).code(503);
        const roster = rosterOf(engine, a.d);
        return { group: req.params.group, students: roster.members(String(req.params.group)).map((member) => ({ member, name: displayName(roster, member) })) };
      },
    },
    {
      method: 'GET',
      path: '/v1/dashboards/{name}/{group}/students/{member}',
      handler: async (req, h) => {
        const a = await authorizeStudent(deps, req);
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
      handler: async (req, h) => {
        const a = await authorizeStudent(deps, req);
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
