// Round trips a user makes with the archive CLI: `loflow replay` reads what `loflow archive learner` writes
// (arrival times kept, derived streams made again, not fed twice) and gives that learner's live states;
// `archive ls` and `archive log` work in a folder that only `archive import` filled.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archivedRun, cli } from './helpers.js';

const pipeline = 'pipelines/writing-observer.yaml';

describe('archive round trips', () => {
  it('replay of `archive learner` output gives that learner the states of the live run', async () => {
    const run = await archivedRun({ batches: 4, commitEvery: 2 });
    const learner = 's-0003';
    const out = await cli(['archive', 'learner', learner, '--dir', run.dir]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect([...new Set(lines.map((l) => l.stream))]).toEqual(expect.arrayContaining(['extension', 'burst']));
    const offsets = lines.map((l) => l.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b)); // log order across streams
    const file = join(mkdtempSync(join(tmpdir(), 'loflow-learner-')), 'learner.ndjson');
    writeFileSync(file, out.stdout);

    const r = await cli(['replay', pipeline, file, '--no-log']);
    expect(r.code, r.stderr).toBe(0);
    const bursts = lines.filter((l) => l.stream === 'burst').length;
    expect(r.stderr).toMatch(new RegExp(`replayed ${lines.length - bursts} events .*\\(0 rejected by schema, 0 not JSON`));
    expect(r.stderr).toContain(`${bursts} events of derived streams skipped`);
    const replayed = JSON.parse(r.stdout).reducers;
    // Every state keyed by this learner (student and student|document keys) as live; the clock-read views
    // (idle, wpm) depend on the whole class's clock and are left out.
    const mine = (states: Record<string, Record<string, any>>, reducer: string) => Object.fromEntries(Object.entries(states[reducer]).filter(([k]) => k === learner || k.startsWith(`${learner}|`)));
    for (const reducer of ['events', 'text', 'bursts', 'burst_stats']) {
      expect(Object.keys(mine(run.live.reducers, reducer)).length, reducer).toBeGreaterThan(0);
      expect(mine(replayed, reducer), reducer).toEqual(mine(run.live.reducers, reducer));
    }
    expect(mine(replayed, 'time_on_task')[learner].active_ms).toBe(run.live.reducers.time_on_task[learner].active_ms);
    expect(Object.keys(replayed.events)).toEqual([learner]);
  }, 120_000);

  it('ls and log read an archive folder filled only by import; a live HEAD is never moved by an import', async () => {
    const run = await archivedRun({ batches: 4, commitEvery: 2 });
    const car = join(run.dir, '..', 'run.car');
    expect((await cli(['archive', 'export', '--dir', run.dir, '--out', car, '--no-log'])).code).toBe(0);
    const fresh = join(mkdtempSync(join(tmpdir(), 'loflow-import-')), 'archive');
    const imp = await cli(['archive', 'import', car, '--dir', fresh]);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stderr).toMatch(/HEAD is the imported commit/);
    for (const sub of ['ls', 'log']) {
      const there = await cli(['archive', sub, '--dir', fresh]);
      expect(there.code, there.stderr).toBe(0);
      expect(there.stdout).toBe((await cli(['archive', sub, '--dir', run.dir])).stdout);
    }
    expect((await cli(['archive', 'learner', 's-0001', '--dir', fresh])).stdout).toBe((await cli(['archive', 'learner', 's-0001', '--dir', run.dir])).stdout);

    // Into a live archive (another run's): its HEAD stays; the import is read with --commit.
    const other = await archivedRun({ batches: 1 });
    const into = await cli(['archive', 'import', car, '--dir', other.dir]);
    const root = into.stdout.trim();
    expect(into.stderr).toMatch(new RegExp(`HEAD unchanged \\(${other.commits.at(-1)}\\): read the import with --commit ${root}`));
    expect((await cli(['archive', 'log', '--dir', other.dir])).stdout).toMatch(new RegExp(`^commit ${other.commits.at(-1)}`));
    const ls = await cli(['archive', 'ls', '--dir', other.dir, '--commit', root]);
    expect(ls.stdout).toBe((await cli(['archive', 'ls', '--dir', run.dir])).stdout);
  }, 240_000);
});
