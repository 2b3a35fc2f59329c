// Dashboard tokens for scripts: a teacher's token, scoped to some of their classes, revocable. Only the
// SHA-256 of each token is stored (a leaked tokens file gives no usable token); the token itself is shown
// once, when it is created. The server re-reads the file when it changes, so a revoke takes effect live.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { readBoundedText } from '../bounded-read.js';

export interface TokenRecord {
  /** Short public id (for list and revoke): the first 12 hex digits of the hash. */
  id: string;
  /** hex SHA-256 of the token. */
  sha256: string;
  teacher: string;
  /** The classes the token may read (also only those the teacher teaches). */
  classes: string[];
  created: string;
  revoked?: string;
  note?: string;
}

export interface TokenGrant {
  id: string;
  teacher: string;
  classes: ReadonlySet<string>;
}

const MAX_FILE = 16 * 1024 * 1024;
/** The file's identity: each save renames a new file in, so the inode changes even within one mtime tick. */
const stampOf = (file: string) => {
  if (!existsSync(file)) return '';
  const st = statSync(file);
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
};
const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export class TokenStore {
  private byHash = new Map<string, TokenRecord>();
  private records: TokenRecord[] = [];
  private stamp = '';
  private checkedAt = 0;

  constructor(readonly file: string) {
    this.reload();
  }

  /** Re-read the file if it changed (checked at most once a second: a request must not stat on each call). */
  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    if (stampOf(this.file) === this.stamp) return;
    try {
      this.reload();
    } catch {
      // A file broken by hand after startup: honour no token (fail closed: a revoke must never be undone).
      this.stamp = stampOf(this.file);
      this.records = [];
      this.byHash = new Map();
    }
  }

  reload(): void {
    this.checkedAt = Date.now();
    if (!existsSync(this.file)) {
      this.stamp = '';
      this.records = [];
      this.byHash = new Map();
      return;
    }
    this.stamp = stampOf(this.file);
    const parsed = JSON.parse(readBoundedText(this.file, MAX_FILE, 'tokens file')) as { tokens?: TokenRecord[] };
    if (!Array.isArray(parsed.tokens)) throw new Error(`tokens file ${this.file}: no "tokens" list`);
    this.records = parsed.tokens;
    this.byHash = new Map(this.records.filter((r) => !r.revoked).map((r) => [r.sha256, r]));
  }

  /** The grant of a presented token, or undefined (unknown, revoked, or not a string of sane length). */
  lookup(token: string | undefined): TokenGrant | undefined {
    if (!token || token.length > 200) return undefined;
    this.refresh();
    const r = this.byHash.get(hash(token));
    return r ? { id: r.id, teacher: r.teacher, classes: new Set(r.classes) } : undefined;
  }

  list(): TokenRecord[] {
    this.reload();
    return this.records.map((r) => ({ ...r }));
  }

  /** A new token (returned once, never stored) for `teacher`, limited to `classes`. */
  create(teacher: string, classes: string[], note?: string): { token: string; record: TokenRecord } {
    this.reload();
    const token = `lft_${randomBytes(32).toString('base64url')}`;
    const sha256 = hash(token);
    const record: TokenRecord = { id: sha256.slice(0, 12), sha256, teacher, classes, created: new Date().toISOString(), ...(note ? { note } : {}) };
    this.save([...this.records, record]);
    return { token, record };
  }

  /** Mark a token revoked (kept in the file for the record); false if there is no such live token. */
  revoke(id: string): boolean {
    this.reload();
    const r = this.records.find((x) => x.id === id && !x.revoked);
    if (!r) return false;
    r.revoked = new Date().toISOString();
    this.save(this.records);
    return true;
  }

  private save(records: TokenRecord[]): void {
    mkdirSync(dirname(this.file), { recursive: true });
    // Write-then-rename: a server reading the file never sees half of it.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ tokens: records }, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
    this.reload();
  }
}
