// kill -9 between a batch's state commit and the archive's next commit: the raw events are still in the input
// log (kept from the archive's last durable commit on), and the derived ones in the state store's outbox
// (committed with the states that made them), so the restarted server puts both into the archive, once each.
import { describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { openArchive } from '../../archive/replay-source.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { demoFile, root, tmp } from './helpers.js';

function serve(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    // Log segments of 100 events: a restart reads only the open one, and the re-feed reads the closed ones back.
    const child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOFLOW_LOG_SEGMENT_EVENTS: '100' } });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
}

const TOTAL = 5_000;

const stopped = (child: ChildProcess, signal: NodeJS.Signals) => {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  return exited;
};

describe('archive after a crash', () => {
  it('re-feeds the raw events the archive had not committed from the input log, and the derived ones from the outbox', async () => {
    const dir = tmp('loflow-refeed-');
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `refeed${Date.now()}`;
    const file = join(dir, 'pipeline.yaml');
    // No timed commit during the test: only a graceful stop commits the archive.
    writeFileSync(file, readFileSync(demoFile, 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`).replace('commit_every: 10s', 'commit_every: 1h'));
    const args = [file, '--state', inject('redisUrl'), '--log', join(dir, 'log'), '--archive', join(dir, 'archive'), '--data', join(dir, 'data')];
    // One keystroke every 100 ms over 50 students: 5 s between a student's keystrokes, so each one closes the
    // student's burst (gap 2 s) and the cascade emits a derived `burst` event.
    const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ event: 'keystroke', ts: (from + i) * 100, auth: { user_id: `s-${String((from + i) % 50).padStart(4, '0')}` }, keystroke: { type: 'keydown', key: 'a' } }));
    const committed = async (url: string, n: number) => {
      for (;;) {
        const h = (await (await fetch(`${url}/healthz`)).json()) as { committed_offset: number };
        if (h.committed_offset === n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // First life: 300 events archived and committed by a graceful stop.
    let s = await serve(args);
    expect((await fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(batch(0, 300)) })).status).toBe(200);
    await committed(s.url, 300);
    await stopped(s.child, 'SIGTERM');
    // Second life: 4,700 more events processed (state committed in Redis), then kill -9 before any archive
    // commit. The re-feed takes them in slices of 4,096, from closed segments and then the open one.
    s = await serve(args);
    for (const [from, n] of [[300, 2350], [2650, 2350]]) expect((await fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(batch(from, n)) })).status).toBe(200);
    await committed(s.url, TOTAL);
    await stopped(s.child, 'SIGKILL');
    // Third life: started and stopped gracefully; the archive must now hold all raw events, once each.
    s = await serve(args);
    await committed(s.url, TOTAL);
    await stopped(s.child, 'SIGTERM');

    const head = await new FolderBlockstore(join(dir, 'archive')).head();
    const archive = await openArchive(head!.toString(), { dir: join(dir, 'archive') });
    const offsets: number[] = [];
    for await (const e of archive.events(['batch'])) offsets.push(e.offset);
    expect(offsets).toEqual(Array.from({ length: TOTAL }, (_, i) => i));

    // The derived stream equals an uninterrupted run's: no burst lost with the killed writer's buffer, none twice.
    const { pipeline } = await compilePipelineFile(file);
    const engine = new Engine(pipeline!);
    const expected: unknown[] = [];
    engine.on('emit', (stream: string, event: unknown) => {
      if (stream === 'burst') expected.push(event);
    });
    await engine.ingest('batch', batch(0, 300));
    await engine.ingest('batch', batch(300, TOTAL - 300));
    await engine.flush();
    await engine.stop();
    const bursts: unknown[] = [];
    for await (const e of archive.events(['burst'])) bursts.push(e.event);
    expect(expected.length).toBeGreaterThan(TOTAL - 100);
    expect(bursts).toEqual(expected);
  }, 60_000);
});
