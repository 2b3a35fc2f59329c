// `loflow state ls|drop` against a throwaway Redis, after replays of two versions of a pipeline; then how
// it sees a third version that edits an upstream reducer, and a fourth that edits nothing stateful.
import { describe, expect, inject, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'bin/loflow.js');
const run = (...args: string[]) => promisify(execFile)('node', [bin, ...args], { cwd: root });

describe('loflow state', () => {
  it('lists state per reducer and version, marks a changed reducer and its readers stale, and drops only what is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-state-'));
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `st${Date.now()}`;
    const v1 = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
    writeFileSync(join(dir, 'v1.yaml'), v1);
    writeFileSync(join(dir, 'v2.yaml'), v1.replace('idle_after: 5m', 'idle_after: 2m'));
    const events = join(dir, 'e.ndjson');
    await run('generate', '--events', '2000', '--students', '20', '--out', events);
    const state = ['--state', inject('redisUrl')];
    await run('replay', join(dir, 'v1.yaml'), events, '--summary', ...state);
    await run('replay', join(dir, 'v2.yaml'), events, '--summary', ...state);
    const ls = (await run('state', 'ls', join(dir, 'v2.yaml'), ...state)).stdout;
    expect(ls).toMatch(/^time_on_task +\w+ +20 keys .* current$/m);
    expect(ls).toMatch(/^time_on_task +\w+ +20 keys .* stale \(definition changed\)$/m);
    expect(ls).toMatch(/^events +\w+ +20 keys .* current$/m);
    expect(ls).toMatch(/^burst_stats +\w+ +\d+ keys .* current$/m);

    // A state-breaking edit of `bursts`: `burst_stats` reads what it emits, so its stored state is stale too.
    writeFileSync(join(dir, 'v3.yaml'), v1.replace('idle_after: 5m', 'idle_after: 2m').replace('params: { gap: 2s }', 'params: { gap: 3s }'));
    const upstream = (await run('state', 'ls', join(dir, 'v3.yaml'), ...state)).stdout;
    expect(upstream).toMatch(/^bursts +\w+ +\d+ keys .* stale \(definition changed\)$/m);
    expect(upstream).toMatch(/^burst_stats +\w+ +\d+ keys .* stale \(definition or upstream changed: 'bursts' stale too\)$/m);
    expect(upstream).not.toMatch(/^burst.* current$/m);
    expect(upstream).toMatch(/^time_on_task +\w+ +20 keys .* current$/m);
    // A stateless edit (the dashboard's interval, the archive's derived streams) leaves every version current.
    writeFileSync(join(dir, 'v4.yaml'), v1.replace('idle_after: 5m', 'idle_after: 2m').replace('min_interval: 500ms', 'min_interval: 2s').replace('derived: [burst]', 'derived: []'));
    expect((await run('state', 'ls', join(dir, 'v4.yaml'), ...state)).stdout).toBe(ls);

    await expect(run('state', 'drop', join(dir, 'v2.yaml'), ...state)).rejects.toMatchObject({ code: 2 });
    const drop = await run('state', 'drop', join(dir, 'v2.yaml'), '--reducer', 'time_on_task', ...state);
    expect(drop.stdout).toMatch(/dropped 40 states of reducer 'time_on_task'/);
    expect((await run('state', 'ls', join(dir, 'v2.yaml'), ...state)).stdout).not.toMatch(/^time_on_task/m);
  });
});
