import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { archivedRun, cli } from './helpers.js';

describe('archive CLI', () => {
  it('replay of a commit CID in the folder equals replay of its CAR; ls and log describe the archive', async () => {
    const run = await archivedRun({ batches: 4, commitEvery: 2 });
    const car = join(run.dir, '..', 'run.car');
    expect((await cli(['archive', 'export', '--dir', run.dir, '--out', car, '--no-log'])).code).toBe(0);
    const head = run.commits.at(-1)!;
    const fromCar = await cli(['replay', 'pipelines/writing-observer.yaml', car, '--archive', run.dir]);
    const fromCid = await cli(['replay', 'pipelines/writing-observer.yaml', head, '--archive', run.dir]);
    expect(fromCid.code, fromCid.stderr).toBe(0);
    const cid = /result CID (\S+)/.exec(fromCar.stderr)![1];
    expect(/result CID (\S+)/.exec(fromCid.stderr)![1]).toBe(cid);
    expect(JSON.parse(fromCid.stdout)).toEqual({ ...run.live, result_cid: cid });

    const ls = await cli(['archive', 'ls', '--dir', run.dir]);
    expect(ls.code).toBe(0);
    const extension = run.sent.filter((s) => s.stream === 'extension');
    const learners = new Set(extension.map((s) => (s.event as any).auth.user_id)).size;
    expect(ls.stdout).toMatch(new RegExp(`^extension +${extension.length} events +${learners} learners  head bafy`, 'm'));
    expect(ls.stdout).toMatch(/^burst +\d+ events/m);

    const log = await cli(['archive', 'log', '--dir', run.dir]);
    expect([...log.stdout.matchAll(/^commit (\S+)/gm)].map((m) => m[1])).toEqual([...new Set(run.commits)].reverse());
  });

  it('a missing archive or bad input is a clear error, not a stack trace', async () => {
    const run = await archivedRun({ batches: 1 });
    const empty = join(run.dir, '..', 'empty');
    const e = await cli(['archive', 'export', '--dir', empty, '--out', join(empty, 'x.car')]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/^no archive folder .*empty: pass --dir/);
    expect((await cli(['archive', 'log', '--dir', empty])).stderr).toMatch(/^no archive folder .*empty/);
    const l = await cli(['archive', 'learner', '--dir', run.dir]);
    expect(l.code).toBe(2);
    expect(l.stderr).toMatch(/usage: loflow archive learner ID/);
    const u = await cli(['archive', 'frobnicate', '--dir', run.dir]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/unknown archive subcommand 'frobnicate'/);
  });
});
