// The audit log itself: group-committed appends form one hash chain (also across two writers of one
// folder, as serve and archive export are), rotation keeps it bounded, and verify names the line of an
// altered or removed record.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, CURRENT } from '../../engine/audit/audit-log.js';
import { verifyAudit } from '../../engine/audit/audit-read.js';
import { GENESIS, pseudonymOf, type AuditEntry } from '../../engine/audit/record.js';

const entry = (i: number, actor = 'teacher:t-ada'): AuditEntry => ({ actor, action: 'dashboard.read', target: { pipeline: 'p', dashboard: 'overview', class: `c-${i % 4}` }, result: 'ok' });
const dir = () => mkdtempSync(join(tmpdir(), 'loflow-audit-'));
const lines = (d: string, f = CURRENT) => readFileSync(join(d, f), 'utf8').split('\n').filter(Boolean);

describe('audit log', () => {
  it('chains concurrent records, written in groups, and verifies', async () => {
    const d = dir();
    const log = new AuditLog(d);
    const records = await Promise.all(Array.from({ length: 300 }, (_, i) => log.record(entry(i))));
    expect(records[0].prev).toBe(GENESIS);
    for (let i = 1; i < records.length; i++) expect(records[i].prev).toBe(records[i - 1].hash);
    // Group commit: the 300 records went out in far fewer writes (records of one write share its time).
    expect(new Set(records.map((r) => r.time)).size).toBeLessThan(50);
    expect(lines(d)).toHaveLength(300);
    const v = await verifyAudit(d);
    expect(v).toMatchObject({ ok: true, records: 300, head: records.at(-1)!.hash });
  });

  it('two writers of one folder (serve and a CLI export) continue one chain', async () => {
    const d = dir();
    const a = new AuditLog(d);
    const b = new AuditLog(d);
    for (let round = 0; round < 5; round++) {
      await Promise.all([a.record(entry(round)), b.record(entry(round, 'cli:root@host')), a.record(entry(round + 1))]);
      await b.record(entry(round, 'cli:root@host'));
    }
    const v = await verifyAudit(d);
    expect(v).toMatchObject({ ok: true, records: 20 });
  });

  it('rotates at the size bound, keeps the newest segments, and the chain goes on across files', async () => {
    const d = dir();
    const log = new AuditLog(d, { rotateBytes: 2000, keep: 2 });
    for (let i = 0; i < 60; i++) await log.record(entry(i));
    const files = readdirSync(d).filter((f) => f.endsWith('.jsonl')).sort();
    expect(files.filter((f) => f !== CURRENT)).toHaveLength(2);
    const v = await verifyAudit(d);
    expect(v.ok).toBe(true);
    expect(v.records).toBeLessThan(60);
    // The oldest kept record follows deleted ones: said, not an error.
    expect(v.startsAfter).toMatch(/^[0-9a-f]{64}$/);
    const first = JSON.parse(lines(d, files.find((f) => f !== CURRENT)!)[0]);
    expect(first.prev).toBe(v.startsAfter);
  });

  it('names the line of an altered byte, a removed record and a line that is not JSON', async () => {
    const d = dir();
    const log = new AuditLog(d);
    for (let i = 0; i < 6; i++) await log.record(entry(i));
    const original = readFileSync(join(d, CURRENT), 'utf8');
    const text = original.split('\n');
    text[3] = text[3].replace('"c-3"', '"c-2"'); // one byte: another class
    writeFileSync(join(d, CURRENT), text.join('\n'));
    expect(await verifyAudit(d)).toMatchObject({ ok: false, error: 'audit.jsonl line 4: the record was altered (its content does not match its hash)' });
    const removed = original.split('\n');
    removed.splice(2, 1);
    writeFileSync(join(d, CURRENT), removed.join('\n'));
    expect((await verifyAudit(d)).error).toBe('audit.jsonl line 3: the chain is broken (prev is not the hash of the record before: one was removed, inserted or altered)');
    writeFileSync(join(d, CURRENT), original.replace('{"time"', '{time'));
    expect((await verifyAudit(d)).error).toMatch(/^audit\.jsonl line 1: not a JSON audit record/);
  });

  it('refuses records beyond its backlog bound instead of queueing without end', async () => {
    const log = new AuditLog(dir(), { maxPending: 5 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => log.record(entry(i))));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(5);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.message).toMatch(/records waiting to be written/);
  });

  it('pseudonyms are keyed per log: stable within it, different in another, never the id', () => {
    const [d1, d2] = [dir(), dir()];
    expect(pseudonymOf(d1, 'stu-40101')).toBe(pseudonymOf(d1, 'stu-40101'));
    expect(pseudonymOf(d1, 'stu-40101')).not.toBe(pseudonymOf(d2, 'stu-40101'));
    expect(pseudonymOf(d1, 'stu-40101')).not.toContain('40101');
  });
});
