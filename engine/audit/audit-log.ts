// The append-only audit log: JSON lines under <data>/<pipeline>/audit/ (audit.jsonl, then rotated
// segments audit-<time>.jsonl). Writes are group-committed: records that arrive while a write is in
// flight go out together in the next one, one write and one fsync per group, never blocking the event
// loop. A caller awaits its record: a read or export is served only once its record is on disk.
// The server and CLI commands (archive export) append to the same chain, so each write holds a lock file
// and re-reads the chain's last hash when another process wrote since.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock } from '../../archive/lock.js';
import { GroupCommit } from '../log/group-commit.js';
import { GENESIS, recordHash, type AuditEntry, type AuditRecord } from './record.js';

export interface AuditOptions {
  /** Rotate audit.jsonl once it is over this many bytes (default 64 MiB; env LOFLOW_AUDIT_ROTATE_MB). */
  rotateBytes?: number;
  /** Rotated segments kept; older ones are deleted (default 0: keep all; env LOFLOW_AUDIT_KEEP). */
  keep?: number;
  /** Records waiting to be written before new ones are refused (default 10,000). */
  maxPending?: number;
}

export const CURRENT = 'audit.jsonl';

/** Segments oldest first: rotated ones by name (their time), then the current file. */
export function auditSegments(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names.filter((n) => /^audit-\d{8}T\d{9}Z(-\d+)?\.jsonl$/.test(n)).sort();
  return [...rotated, ...(names.includes(CURRENT) ? [CURRENT] : [])];
}

/** The last record's hash in a file (read from its tail), or undefined when it holds none. */
function lastHashIn(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 1 << 20);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim());
    const last = lines.at(-1);
    return last ? (JSON.parse(last) as AuditRecord).hash : undefined;
  } finally {
    closeSync(fd);
  }
}

const envNumber = (name: string) => (Number(process.env[name]) > 0 ? Number(process.env[name]) : undefined);

export class AuditLog {
  private readonly group: GroupCommit<AuditEntry, AuditRecord>;
  private pending = 0;
  /** The chain's end as this process last wrote it: file size and last hash. */
  private known: { size: number; hash: string } | undefined;
  private readonly rotateBytes: number;
  private readonly keep: number;
  private readonly maxPending: number;

  constructor(readonly dir: string, opts: AuditOptions = {}) {
    mkdirSync(dir, { recursive: true });
    this.rotateBytes = opts.rotateBytes ?? (envNumber('LOFLOW_AUDIT_ROTATE_MB') ?? 64) * 1024 * 1024;
    this.keep = opts.keep ?? envNumber('LOFLOW_AUDIT_KEEP') ?? 0;
    this.maxPending = opts.maxPending ?? 10_000;
    this.group = new GroupCommit((entries) => this.write(entries));
  }

  /** Resolves with the record once it is written and fsync'ed; rejects when it cannot be (disk full, backlog). */
  record(entry: AuditEntry): Promise<AuditRecord> {
    if (this.pending >= this.maxPending) return Promise.reject(new Error(`audit log ${this.dir}: ${this.pending} records waiting to be written`));
    this.pending++;
    return this.group.submit(entry).finally(() => this.pending--);
  }

  /** Resolves once every record submitted so far is written. */
  drain(): Promise<void> {
    return this.group.drain();
  }

  private async write(entries: AuditEntry[]): Promise<AuditRecord[]> {
    const release = await lockWithRetry(this.dir);
    try {
      const path = join(this.dir, CURRENT);
      const file = await open(path, 'a');
      let size: number;
      let records: AuditRecord[];
      try {
        size = (await file.stat()).size;
        let prev = this.known && this.known.size === size ? this.known.hash : this.chainEnd();
        const time = new Date().toISOString();
        records = entries.map((e) => {
          const r = { time, ...e, prev } as AuditRecord;
          r.hash = recordHash(r);
          prev = r.hash;
          return r;
        });
        const data = Buffer.from(records.map((r) => JSON.stringify(r)).join('\n') + '\n');
        try {
          await file.write(data);
          await file.sync();
        } catch (err) {
          // No torn line stays in the chain: the next write would start after it.
          await file.truncate(size).catch(() => undefined);
          throw err;
        }
        size += data.length;
      } finally {
        await file.close();
      }
      this.known = { size, hash: records.at(-1)!.hash };
      if (size > this.rotateBytes) this.rotate(path);
      return records;
    } finally {
      release();
    }
  }

  /** The chain's last hash on disk (another process may have written since this one did). */
  private chainEnd(): string {
    const segments = auditSegments(this.dir);
    for (let i = segments.length - 1; i >= 0; i--) {
      const h = lastHashIn(join(this.dir, segments[i]));
      if (h) return h;
    }
    return GENESIS;
  }

  /** audit.jsonl becomes audit-<time>.jsonl (the chain goes on in the next file); old segments beyond `keep` go. */
  private rotate(path: string): void {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    let name = `audit-${stamp}.jsonl`;
    for (let i = 1; existsSync(join(this.dir, name)); i++) name = `audit-${stamp}-${i}.jsonl`;
    renameSync(path, join(this.dir, name));
    this.known = { size: 0, hash: this.known!.hash };
    if (this.keep > 0) {
      const rotated = auditSegments(this.dir).filter((n) => n !== CURRENT);
      for (const old of rotated.slice(0, Math.max(0, rotated.length - this.keep))) unlinkSync(join(this.dir, old));
    }
  }
}

/** Another process holds the lock for one write (milliseconds): wait for it, up to 10 s. */
async function lockWithRetry(dir: string): Promise<() => void> {
  for (let waited = 0; ; waited += 10) {
    try {
      return acquireLock(dir, { name: 'audit.lock', exclusive: true });
    } catch (err) {
      if (waited >= 10_000) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
