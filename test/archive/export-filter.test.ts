import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CID } from '../../archive/blocks.js';
import { verifyCar } from '../../archive/car.js';
import { folderSource } from '../../archive/read.js';
import { exportSelection } from '../../archive/rewrite.js';
import { archivedRun, cli, direct, replay } from './helpers.js';

describe('archive export filters', () => {
  it('--stream/--since/--until: a new self-contained DAG that replays to the states of only the selected events', async () => {
    const run = await archivedRun();
    const out = join(run.dir, '..', 'batch-2to6.car');
    // Batches arrive at 1000, 2000, ... 8000 ms; `batch` gets batches 3 and 6 (at 3000 and 6000).
    const r = await cli(['archive', 'export', '--dir', run.dir, '--stream', 'batch', '--stream', 'extension', '--since', '2000', '--until', '6000', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const root = r.stdout.trim();
    expect(await verifyCar(out)).toMatchObject({ ok: true, root });
    const selected = run.sent.filter((s) => s.at >= 2000 && s.at < 6000);
    expect(r.stderr).toContain(`${selected.length} events selected`);

    const replayed = await replay(out, run.pipeline);
    expect(replayed.archive.commit.prev).toBeNull(); // no history: the CAR holds only the selection
    expect(replayed.archive.commit.filter).toMatchObject({ from: run.commits.at(-1), since: 2000, until: 6000, streams: ['batch', 'extension'] });
    expect(replayed.results).toEqual(await direct(run.pipeline, selected));
    expect(replayed.results).not.toEqual(run.live);

    // One stream only, by ISO time: batch 6 (at 6000 ms = 1970-01-01T00:00:06Z) and later.
    const only = join(run.dir, '..', 'batch-only.car');
    const b = await cli(['archive', 'export', '--dir', run.dir, '--stream', 'batch', '--since', '1970-01-01T00:00:06Z', '--out', only]);
    expect(b.code, b.stderr).toBe(0);
    const batchOnly = run.sent.filter((s) => s.stream === 'batch' && s.at >= 6000);
    expect(batchOnly.length).toBeGreaterThan(0);
    const rb = await replay(only, run.pipeline);
    expect(Object.keys(rb.archive.commit.heads)).toEqual(['batch']);
    expect(rb.results).toEqual(await direct(run.pipeline, batchOnly));
  });

  it('the same selection of the same commit gives the same root CID', async () => {
    const run = await archivedRun({ batches: 4 });
    const src = await folderSource(run.dir);
    const a = await exportSelection(src, { since: 2000 }, join(run.dir, '..', 'a.car'));
    const b = await exportSelection(src, { since: 2000 }, join(run.dir, '..', 'b.car'));
    expect(a.root.toString()).toBe(b.root.toString());
    expect(a.root.equals(CID.parse(run.commits.at(-1)!))).toBe(false);
  });

  it('refuses an unknown stream or a bad time, naming it, and writes nothing', async () => {
    const run = await archivedRun({ batches: 2 });
    const out = join(run.dir, '..', 'x.car');
    const s = await cli(['archive', 'export', '--dir', run.dir, '--stream', 'nope', '--out', out]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/no stream 'nope' \(streams: .*extension/);
    const t = await cli(['archive', 'export', '--dir', run.dir, '--since', 'yesterday-ish', '--out', out]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/--since needs a time/);
    expect((await verifyCar(out)).ok).toBe(false);
  });
});
