// `loflow tap` (the real binary) against a live server: stream events, derived events and reducer state
// changes at a node, filtered by key, sampled, and refused to anyone without an admin token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { demoServer, keystroke } from '../server/server-fixture.js';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'bin/loflow.js');

function tap(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [bin, 'tap', ...args], { cwd: root }, (err, stdout, stderr) => resolve({ code: err ? ((err as any).code as number) : 0, stdout, stderr }));
  });
}

const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('loflow tap', () => {
  let s: Awaited<ReturnType<typeof demoServer>>;
  let ts = 1_000_000;
  const post = (events: unknown[]) => s.post(JSON.stringify(events), { 'x-api-key': 'ingest-key' });
  /** Keep sending events until the tap process has what it waits for (no fixed sleeps). */
  async function feedUntil<T>(done: Promise<T>, events: () => unknown[]): Promise<T> {
    let finished = false;
    done.then(() => (finished = true));
    while (!finished) {
      expect((await post(events())).status).toBe(200);
      await new Promise((r) => setTimeout(r, 50));
    }
    return done;
  }

  beforeAll(async () => {
    s = await demoServer({ auth: { teacherTokens: { 'tok-ada': 't-ada' }, apiKeys: ['ingest-key'], adminTokens: ['adm'] } });
  });
  afterAll(async () => {
    await s.close();
  });

  it('streams a reducer’s state changes at one key', async () => {
    const run = tap(s.url, 'events', '--key', 's-0001', '--limit', '3', '--token', 'adm');
    const r = await feedUntil(run, () => [keystroke('s-0001', ts++), keystroke('s-0002', ts++)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/tapping reducer 'events' at key 's-0001'/);
    const got = lines(r.stdout);
    expect(got).toHaveLength(3);
    for (const m of got) expect(m).toMatchObject({ type: 'state', reducer: 'events', key: 's-0001', view: expect.any(Number) });
    // Counts only grow, one batch after another.
    expect(got.map((m) => m.view)).toEqual([...got.map((m) => m.view)].sort((a, b) => a - b));
  });

  it('streams a source’s events, and a derived stream’s events', async () => {
    const raw = tap(s.url, 'batch', '--key', 's-0003', '--limit', '2', '--token', 'adm');
    const r = await feedUntil(raw, () => [keystroke('s-0004', ts++), keystroke('s-0003', ts++, 'q')]);
    expect(lines(r.stdout)).toEqual([
      expect.objectContaining({ type: 'event', stream: 'batch', event: expect.objectContaining({ auth: { user_id: 's-0003' }, keystroke: expect.objectContaining({ key: 'q' }) }) }),
      expect.objectContaining({ type: 'event', stream: 'batch' }),
    ]);
    // A burst closes when the next keystroke comes 2 s (event time) after the last one.
    const derived = tap(s.url, 'burst', '--limit', '1', '--token', 'adm');
    const d = await feedUntil(derived, () => [keystroke('s-0005', (ts += 3000))]);
    expect(lines(d.stdout)).toEqual([expect.objectContaining({ type: 'event', stream: 'burst', event: expect.objectContaining({ auth: { user_id: 's-0005' } }) })]);
  });

  it('samples: at most --rate items per second, and says how many it dropped', async () => {
    const run = tap(s.url, 'batch', '--rate', '2', '--limit', '3', '--token', 'adm');
    while (s.engine.listenerCount('ingested') === 0) await new Promise((r) => setTimeout(r, 20)); // connected
    const many = Array.from({ length: 500 }, () => keystroke('s-0006', ts++));
    let first = true;
    const r = await feedUntil(run, () => (first ? ((first = false), many) : [keystroke('s-0006', ts++)]));
    const got = lines(r.stdout);
    expect(got).toHaveLength(3);
    // The bucket holds 2: the third item comes after a refill, reporting the 498+ events it skipped.
    expect(got[2].dropped).toBeGreaterThanOrEqual(498);
  });

  it('refuses teachers, ingest keys and no token; names unknown nodes', async () => {
    expect(await tap(s.url, 'events', '--token', 'tok-ada')).toMatchObject({ code: 1, stderr: expect.stringMatching(/tap refused \(403\): not an admin token/) });
    expect(await tap(s.url, 'events', '--token', 'ingest-key')).toMatchObject({ code: 1, stderr: expect.stringMatching(/tap refused \(403\)/) });
    const none = await tap(s.url, 'events');
    expect(none).toMatchObject({ code: 1, stderr: expect.stringMatching(/tap refused \(401\): an admin token is needed/) });
    expect(await tap(s.url, 'nope', '--token', 'adm')).toMatchObject({ code: 1, stderr: expect.stringMatching(/tap refused \(404\): unknown node 'nope' \(streams and reducers: extension, batch, burst, events/) });
    // Taps that ended leave no listener behind on the engine.
    expect(s.engine.listenerCount('ingested') + s.engine.listenerCount('emit')).toBe(0);
  });
});
