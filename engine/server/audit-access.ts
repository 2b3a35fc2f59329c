// The server's audit hook: one call per access point (a dashboard read, a live subscription opened or
// closed), recorded whether it was allowed or denied. Student data is served only once its record is
// on disk: when the log cannot be written the answer is 503, never unaudited data.
import type { AuditLog } from '../audit/audit-log.js';
import { pseudonymOf, tokenId, type AuditAction } from '../audit/record.js';
import type { Engine } from '../runtime.js';
import type { DashboardSpec } from '../types.js';
import type { Logger } from './logging.js';

/** What `authorize` found: the dashboard when allowed, else the HTTP status and why; who asked. */
export interface Access {
  d?: DashboardSpec;
  code?: number;
  error?: string;
  teacher?: string;
  token?: string;
}

/** `student`: the one student read (a drill-down), logged as a pseudonym. */
export type RecordAccess = (action: AuditAction, a: Access, dashboard: string, group: string, student?: string) => Promise<boolean>;

export const auditUnavailable = 'the audit log cannot be written: student data is not served until it can';

export function accessRecorder(audit: AuditLog | undefined, engine: Engine, log: Logger): RecordAccess {
  return async (action, a, dashboard, group, student) => {
    if (!audit) return true;
    try {
      await audit.record({
        actor: a.teacher ? `teacher:${a.teacher}` : a.token ? `token:${tokenId(a.token)}` : 'anonymous',
        ...(a.token ? { token: tokenId(a.token) } : {}),
        action,
        target: { pipeline: engine.pipeline.name, dashboard, class: group, ...(student !== undefined ? { student: pseudonymOf(audit.dir, student) } : {}) },
        result: a.d ? 'ok' : 'denied',
        ...(a.d ? {} : { reason: `${a.code} ${a.error}` }),
      });
      return true;
    } catch (err) {
      log.error({ err: (err as Error).message, action, dashboard }, 'audit record failed');
      return false;
    }
  };
}
