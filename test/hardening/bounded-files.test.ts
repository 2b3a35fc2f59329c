// Finding 12: files the compiler reads are regular files of bounded size (before: `rosters.demo.file:
// /dev/zero` made `validate` read for ever, 3 GB RSS; a FIFO made it wait for ever).
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bin } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-bounded-'));
const fifo = join(dir, 'fifo.csv');
execFileSync('mkfifo', [fifo]);
mkdirSync(join(dir, 'dir.csv'));

/** `loflow validate` on a pipeline text; killed after 15 s (the old code never returned). */
function validate(yaml: string, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; ms: number }> {
  const file = join(dir, `p-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const t0 = Date.now();
  return new Promise((done) => {
    execFile('node', [bin, 'validate', file], { timeout: 15_000, env: { ...process.env, ...env } }, (err, _out, stderr) => {
      done({ code: err ? ((err as any).code ?? null) : 0, stderr, ms: Date.now() - t0 });
    });
  });
}

const pipeline = (roster: string, schema = 'lo-event') =>
  `pipeline: p\nsources: { events: { kind: http, path: /e, schema: ${schema} } }\nrosters: { demo: { file: ${roster} } }\nkeys: { student: $.sid }\nreducers: { n: { from: events, key: student, op: count } }\n`;

describe('files the compiler reads', () => {
  it('a roster that is /dev/zero, a FIFO or a directory is refused in one line, at once', async () => {
    for (const [file, kind] of [['/dev/zero', 'a character device'], [fifo, 'a FIFO'], [join(dir, 'dir.csv'), 'a directory']]) {
      const r = await validate(pipeline(file));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`roster 'demo': ${file} is ${kind}: it must be a regular file (at rosters.demo)`);
      expect(r.ms).toBeLessThan(10_000);
    }
  });

  it('an event schema or the pipeline itself that is not a regular file is refused too', async () => {
    writeFileSync(join(dir, 'ok.csv'), 'student,class\ns-1,a\n');
    const r = await validate(pipeline('ok.csv', fifo));
    expect(r.stderr).toContain(`cannot load event schema '${fifo}': ${fifo} is a FIFO: it must be a regular file`);
    const p = await new Promise<{ code: number | null; stderr: string }>((done) =>
      execFile('node', [bin, 'validate', '/dev/zero'], { timeout: 15_000 }, (err, _o, stderr) => done({ code: err ? ((err as any).code ?? null) : 0, stderr })),
    );
    expect(p).toEqual({ code: 1, stderr: expect.stringContaining('cannot read pipeline file: /dev/zero is a character device: it must be a regular file') });
  });

  it('a roster over the size limit is refused with the limit and how to raise it', async () => {
    writeFileSync(join(dir, 'big.csv'), 'student,class\n' + 's-0000,class-a\n'.repeat(200)); // 3 KiB
    const r = await validate(pipeline('big.csv'), { LOFLOW_MAX_ROSTER_MB: String(2 / 1024) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/roster 'demo': \S+big\.csv is 3014 bytes: over the 2048 bytes limit \(LOFLOW_MAX_ROSTER_MB raises it\)/);
    expect((await validate(pipeline('big.csv'))).code).toBe(0); // the default 64 MiB takes it
  });
});
