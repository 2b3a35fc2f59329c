// One erasure from request to receipt, whoever runs it (the server's admin route, the CLI on the stores):
// run it (dry or real), build the record, content-address it, and put it on the audit log.
import type { AuditLog } from '../audit/audit-log.js';
import type { ArchiveEraseRequest } from '../types.js';
import type { ErasureResult } from './erase-parts.js';
import { archiveRecord, archiveStatus, receiptCid, type ErasureRecord } from './receipt.js';

export interface ErasureRequest {
  pipeline: string;
  /** The learner's pseudonym (pseudonymOf under the audit log's key): what the record names. */
  pseudonym: string;
  by: string;
  reason: string;
  dryRun: boolean;
}

export interface ErasureReport {
  dryRun: boolean;
  /** Nothing of the learner was (or would be) found anywhere: a repeated erasure. */
  nothing: boolean;
  record: ErasureRecord;
  /** The receipt's CID (real runs). */
  cid?: string;
  /** Set when the audit log took the start of the erasure but not its receipt. */
  auditError?: string;
}

/** Bounds on what a request may say (it is written to the audit log and the archive). */
export function requestProblem(b: { student?: unknown; by?: unknown; reason?: unknown }): string | null {
  if (typeof b.student !== 'string' || b.student === '' || b.student.length > 256 || b.student.includes('|')) return 'student: a non-empty id of at most 256 characters, without |';
  if (b.by !== undefined && (typeof b.by !== 'string' || b.by.length > 200)) return 'by: text of at most 200 characters';
  if (b.reason !== undefined && (typeof b.reason !== 'string' || b.reason.length > 1000)) return 'reason: text of at most 1000 characters';
  return null;
}

export async function runErasure(
  req: ErasureRequest,
  run: (archive: ArchiveEraseRequest['record']) => Promise<ErasureResult & { remaining?: string[] }>,
  audit: { log?: AuditLog; actor: string },
): Promise<ErasureReport> {
  const base = { pipeline: req.pipeline, learner: req.pseudonym, by: req.by, reason: req.reason, at: new Date().toISOString() };
  // On record before anything is removed: an audit log that cannot be written refuses the erasure (throws).
  await audit.log?.record({ actor: audit.actor, action: 'student.erase', target: { pipeline: req.pipeline, student: req.pseudonym, dry_run: req.dryRun, phase: 'start' }, result: 'ok' });
  const result = await run(archiveRecord(base));
  const incomplete = [...result.unsupported.map((p) => `${p}: cannot erase`), ...(result.archive.status === 'failed' ? [`archive: ${result.archive.error}`] : []), ...(result.remaining ?? []).map((s) => `state ${s} still names the learner (not keyed by them: rebuild it, README "Erasure")`)];
  const record: ErasureRecord = { type: 'loflow/erasure', ...base, counts: result.counts, archive: archiveStatus(result.archive), incomplete };
  const nothing = Object.values(result.counts).every((n) => n === 0) && result.archive.status !== 'would-erase' && incomplete.length === 0;
  const report: ErasureReport = { dryRun: req.dryRun, nothing, record };
  if (!req.dryRun) report.cid = await receiptCid(record);
  try {
    await audit.log?.record({
      actor: audit.actor,
      action: 'student.erase',
      target: { pipeline: req.pipeline, student: req.pseudonym, dry_run: req.dryRun, phase: 'done', ...(report.cid ? { receipt: report.cid } : {}) },
      result: 'ok',
      ...(incomplete.length ? { reason: `incomplete: ${incomplete.join('; ').slice(0, 500)}` } : {}),
    });
  } catch (err) {
    // The erasure is done and cannot be undone: the receipt is answered, with why the log lacks its CID.
    report.auditError = `the audit log could not record the receipt: ${(err as Error).message}`;
  }
  return report;
}
