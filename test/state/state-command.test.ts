// `loflow state ls|drop` against a throwaway Redis, after replays of two versions of a pipeline.
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
  it('lists state per reducer and version, marks a changed reducer stale, and drops only what is named', async () => {
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
    await expect(run('state', 'drop', join(dir, 'v2.yaml'), ...state)).rejects.toMatchObject({ code: 2 });
    const drop = await run('state', 'drop', join(dir, 'v2.yaml'), '--reducer', 'time_on_task', ...state);
    expect(drop.stdout).toMatch(/dropped 40 states of reducer 'time_on_task'/);
    expect((await run('state', 'ls', join(dir, 'v2.yaml'), ...state)).stdout).not.toMatch(/^time_on_task/m);
  });
});
