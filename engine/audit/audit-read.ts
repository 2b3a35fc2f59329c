// Reading and verifying the audit log: every segment oldest first, each line parsed, its own hash
// recomputed and its `prev` compared with the line before. A problem names the file and line.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { auditSegments } from './audit-log.js';
import { GENESIS, recordHash, type AuditRecord } from './record.js';

export interface AuditLine {
  file: string;
  line: number;
  record: AuditRecord;
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first problem: `audit.jsonl line 3: ...`. */
  error?: string;
  /** The last record's hash: note it elsewhere (the analysis log does) to pin the chain's end. */
  head: string;
  /** Set when the oldest kept record follows rotated-away ones (its prev is not the genesis hash). */
  startsAfter?: string;
}

/** Every line of every segment, oldest first; `onBad` gets a line that is not a record (and stops when it returns false). */
export async function* auditLines(dir: string, onBad?: (file: string, line: number, why: string) => void): AsyncGenerator<AuditLine> {
  for (const file of auditSegments(dir)) {
    let n = 0;
    const lines = createInterface({ input: createReadStream(join(dir, file)), crlfDelay: Infinity });
    for await (const text of lines) {
      n++;
      if (!text.trim()) continue;
      let record: AuditRecord;
      try {
        record = JSON.parse(text) as AuditRecord;
        if (!record || typeof record !== 'object' || typeof record.hash !== 'string') throw new Error('not an audit record');
      } catch (err) {
        onBad?.(file, n, (err as Error).message);
        continue;
      }
      yield { file, line: n, record };
    }
  }
}

export async function verifyAudit(dir: string): Promise<VerifyResult> {
  let prev: string | undefined;
  let records = 0;
  let error: string | undefined;
  let startsAfter: string | undefined;
  const fail = (file: string, line: number, why: string) => (error ??= `${file} line ${line}: ${why}`);
  for await (const { file, line, record } of auditLines(dir, (f, l, why) => fail(f, l, `not a JSON audit record (${why})`))) {
    if (error) break;
    if (recordHash(record) !== record.hash) fail(file, line, 'the record was altered (its content does not match its hash)');
    else if (prev === undefined && record.prev !== GENESIS) startsAfter = record.prev;
    else if (prev !== undefined && record.prev !== prev) fail(file, line, 'the chain is broken (prev is not the hash of the record before: one was removed, inserted or altered)');
    if (error) break;
    prev = record.hash;
    records++;
  }
  return { ok: !error, records, error, head: prev ?? GENESIS, ...(startsAfter ? { startsAfter } : {}) };
}
