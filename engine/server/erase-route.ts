// POST /v1/admin/erasures: `loflow erase` against a running server (admin token, as the tap). The engine
// erases between two batches (engine/erase/erase-live.ts), so no batch in flight brings the learner back;
// the answer is the receipt, and the audit log has its CID. Body: {student, by?, reason?, dry_run?}.
import type { ServerRoute } from '@hapi/hapi';
import type { AuditLog } from '../audit/audit-log.js';
import { pseudonymOf, tokenId } from '../audit/record.js';
import { requestProblem, runErasure } from '../erase/erasure.js';
import type { Engine } from '../runtime.js';
import { isUnavailable } from '../unavailable.js';
import { auditUnavailable } from './audit-access.js';
import { tokenOf, type Auth } from './auth.js';

export function eraseRoute(engine: Engine, auth: Auth, audit?: AuditLog): ServerRoute {
  return {
    method: 'POST',
    path: '/v1/admin/erasures',
    options: { payload: { parse: true, allow: 'application/json', maxBytes: 16_384, failAction: 'error' } },
    handler: async (req, h) => {
      const token = tokenOf(req.headers, req.query);
      if (!token) return h.response({ error: 'an admin token is needed (Authorization: Bearer <token>; serve --admin-token or env LOFLOW_ADMIN_TOKEN)' }).code(401);
      if (!auth.isAdmin(token)) return h.response({ error: 'not an admin token: teacher tokens and ingest keys cannot erase' }).code(403);
      // The pseudonym's key is the audit log's: an erasure is never done off the record.
      if (!audit) return h.response({ error: 'this server has no audit log: an erasure must be on record' }).code(503);
      const body = (req.payload ?? {}) as { student?: unknown; by?: unknown; reason?: unknown; dry_run?: unknown };
      const problem = requestProblem(body);
      if (problem) return h.response({ error: problem }).code(400);
      const student = body.student as string;
      let started = false;
      try {
        const report = await runErasure(
          { pipeline: engine.pipeline.name, pseudonym: pseudonymOf(audit.dir, student), by: (body.by as string | undefined) ?? `admin:${tokenId(token)}`, reason: (body.reason as string | undefined) ?? '', dryRun: body.dry_run === true },
          (record) => {
            started = true;
            return engine.erase(student, { dryRun: body.dry_run === true, record });
          },
          { log: audit, actor: 'admin' },
        );
        return h.response(report).code(200);
      } catch (err) {
        if (isUnavailable(err)) return h.response({ error: `${(err as Error).message}; retry` }).code(503).header('Retry-After', '2');
        if (!started) return h.response({ error: auditUnavailable }).code(503); // nothing was erased
        throw err;
      }
    },
  };
}
