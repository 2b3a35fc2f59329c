// The dead-letter file is shared by a running server (appending) and `loflow deadletter replay` (taking):
// two stores on one file, as two processes, must lose no letter and hand none out twice; a take that
// crashed after moving the file aside (an older version's take) gives its letters back.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../engine/deadletter/file-deadletter.js';
import type { DeadLetter } from '../../engine/types.js';

const letter = (i: number): DeadLetter => ({ stream: 's', event: { i, pad: 'x'.repeat(i % 300) }, reason: 'r', at: i, stage: 'ingest' });

describe('file dead letters shared by two processes', () => {
  it('takes while the other appends: every letter is taken or left, once (two stores, one process)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'loflow-dl-')), 'deadletters.ndjson');
    const server = new FileDeadLetterStore(file);
    const cli = new FileDeadLetterStore(file);
    const total = 3000;
    const writing = (async () => {
      for (let i = 0; i < total; i += 10) await server.put(Array.from({ length: 10 }, (_, j) => letter(i + j)));
    })();
    const taken: DeadLetter[] = [];
    let done = false;
    void writing.then(() => (done = true));
    while (!done) taken.push(...(await cli.take(7)));
    await writing;
    const left = await cli.list();
    const seen = [...taken, ...left].map((l) => (l.event as any).i).sort((a, b) => a - b);
    expect(taken.length).toBeGreaterThan(0);
    expect(seen).toEqual([...Array(total).keys()]);
  }, 60_000);

  it('takes while another process appends: every letter is taken or left, once', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'loflow-dl-')), 'deadletters.ndjson');
    const total = 3000;
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/dl-appender.ts'), file, String(total)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let done = false;
    void exited.then(() => (done = true));
    const cli = new FileDeadLetterStore(file);
    const taken: DeadLetter[] = [];
    while (!done) {
      taken.push(...(await cli.take(7)));
      await new Promise((r) => setImmediate(r));
    }
    expect(await exited, stderr).toBe(0);
    const left = await cli.list();
    const seen = [...taken, ...left].map((l) => (l.event as any).i).sort((a, b) => a - b);
    expect(taken.length).toBeGreaterThan(0);
    expect(seen).toEqual([...Array(total).keys()]);
  }, 120_000);

  it('a take that crashed after moving the file aside gives its letters back', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'loflow-dl-')), 'deadletters.ndjson');
    writeFileSync(`${file}.taking`, [letter(1), letter(2)].map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(file, JSON.stringify(letter(3)) + '\n');
    const store = new FileDeadLetterStore(file);
    expect((await store.list()).map((l) => (l.event as any).i)).toEqual([3, 1, 2]);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
    expect((await store.take(1)).map((l) => (l.event as any).i)).toEqual([3]);
    expect((await store.list()).map((l) => (l.event as any).i)).toEqual([1, 2]);
  });
});
