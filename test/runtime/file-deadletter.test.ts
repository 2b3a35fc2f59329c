// The dead-letter file is shared by a running server (appending) and `loflow deadletter replay` (taking):
// two stores on one file, as two processes, must lose no letter and hand none out twice; a take that
// crashed after moving the file aside gives its letters back.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../engine/deadletter/file-deadletter.js';
import type { DeadLetter } from '../../engine/types.js';

const letter = (i: number): DeadLetter => ({ stream: 's', event: { i, pad: 'x'.repeat(i % 300) }, reason: 'r', at: i, stage: 'ingest' });

describe('file dead letters shared by two processes', () => {
  // Skipped: a known race, not fixed yet (see README Status). About one run in three under CI's load, a
  // line the server is still writing into the moved-aside file is carried back torn, and a later read of the
  // file fails to parse it. Until it is fixed, run `deadletter replay` while no server writes dead letters.
  it.skip('takes while the other appends: every letter is taken or left, once', async () => {
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
