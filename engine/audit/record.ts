// An audit record: who read or exported student data, what, when, and whether it was allowed. Records
// form a hash chain: each carries the sha-256 of the previous one and its own (over its canonical JSON
// without `hash`), so an edited, removed or inserted record is found by `loflow audit --verify`.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../canonical-json.js';

export type AuditAction =
  | 'dashboard.read'
  | 'dashboard.subscribe'
  | 'dashboard.unsubscribe'
  | 'student.read'
  | 'archive.export'
  | 'tap.read'
  /** `loflow erase`: target.student is the pseudonym, target.receipt the receipt's CID. */
  | 'student.erase';

export interface AuditEntry {
  /** `teacher:<id>`, `admin`, `token:<token id>` (a token that is nobody's), `cli:<user>@<host>`. */
  actor: string;
  /** A short hash of the credential used (never the token itself): which of a teacher's tokens it was. */
  token?: string;
  action: AuditAction;
  /** Pipeline, dashboard, class; a student only as a pseudonym (see pseudonymOf). */
  target: Record<string, string | number | boolean>;
  result: 'ok' | 'denied';
  /** Why it was denied (the HTTP status and message). */
  reason?: string;
}

export interface AuditRecord extends AuditEntry {
  time: string;
  prev: string;
  hash: string;
}

export const GENESIS = '0'.repeat(64);

/** The record's own hash: sha-256 of its canonical JSON without `hash`. */
export function recordHash(r: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  return createHash('sha256').update(canonicalJson({ ...r, hash: undefined })).digest('hex');
}

/** A token's id in the log: enough to tell tokens apart, useless to someone who reads the log. */
export function tokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

/** The person running a CLI command: $LOFLOW_AUDIT_ACTOR, else the OS user at this host. */
export function cliActor(): string {
  if (process.env.LOFLOW_AUDIT_ACTOR) return `cli:${process.env.LOFLOW_AUDIT_ACTOR}`;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container): unknown
  }
  return `cli:${user}@${hostname()}`;
}

/**
 * A student id as it appears in the log: HMAC-SHA256 under a key kept beside the log (created on first
 * use, mode 0600). The log never holds the id; whoever holds the key can find a student's records
 * (`loflow audit --student ID`).
 */
export function pseudonymOf(dir: string, studentId: string): string {
  const file = join(dir, 'pseudonym.key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    chmodSync(file, 0o600);
  }
  const key = readFileSync(file, 'utf8').trim();
  return `p:${createHmac('sha256', key).update(studentId).digest('hex').slice(0, 24)}`;
}
