// `loflow diff`: a shadow run of two pipeline versions over one input, checked against two plain replays.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArchiveWriter } from '../../archive/writer.js';
import { exportCar } from '../../archive/car.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { root, run } from './run-cli.js';

const demo = 'pipelines/writing-observer.yaml';
const edit = 'pipelines/examples/writing-observer.idle-2m.yaml';


describe('loflow diff', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-diff-'));
  const events = join(dir, 'e.ndjson');

  it('lists every changed cell, and each one matches a replay of each pipeline', async () => {
    // Each key is 3 events (keydown, keypress, keyup): 16,000 events give enough typing for some students to idle 2 minutes.
    expect((await run('generate', '--events', '16000', '--students', '30', '--seed', '4', '--out', events)).code).toBe(0);
    const r = await run('diff', demo, edit, '--events', events, '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/replayed 16000 events through both/);
    const changes = JSON.parse(r.stdout) as Array<{ dashboard: string; class: string; student: string; column: string; old?: unknown; new?: unknown }>;
    const [oldRun, newRun] = await Promise.all([run('replay', demo, events), run('replay', edit, events)]);
    const old = JSON.parse(oldRun.stdout).aggregations.class_overview;
    const now = JSON.parse(newRun.stdout).aggregations.class_overview;
    const cell = (agg: any, c: (typeof changes)[0]) =>
      c.student === '(summary)' ? agg[c.class].summary[c.column] : agg[c.class].rows.find((row: any) => row.member === c.student)?.[c.column];
    // Every reported change is real ...
    for (const c of changes) {
      expect(c.dashboard).toBe('overview');
      expect(cell(old, c), JSON.stringify(c)).toEqual(c.old);
      expect(cell(now, c), JSON.stringify(c)).toEqual(c.new);
    }
    // ... and every real change is reported: the new column for every student with bursts, plus the
    // students the 2-minute threshold now shows idle, and the summary that counts them.
    let expected = 0;
    for (const cls of Object.keys(now)) {
      for (const row of now[cls].rows) {
        const before = old[cls].rows.find((x: any) => x.member === row.member);
        for (const col of new Set([...Object.keys(row), ...Object.keys(before)])) if (JSON.stringify(row[col]) !== JSON.stringify(before[col])) expected++;
      }
      for (const col of Object.keys(now[cls].summary)) if (JSON.stringify(now[cls].summary[col]) !== JSON.stringify(old[cls].summary[col])) expected++;
    }
    expect(changes.length).toBe(expected);
    expect(changes.some((c) => c.column === 'longest_burst' && c.old === undefined)).toBe(true);
    expect(changes.some((c) => c.column === 'idle' && c.old === false && c.new === true)).toBe(true);
    expect(changes.some((c) => c.student === '(summary)' && c.column === 'active_students')).toBe(true);
  });

  it('prints a table per dashboard and class, and says when nothing differs', async () => {
    const r = await run('diff', demo, edit, '--events', events, '--limit', '3');
    expect(r.stdout).toMatch(/^dashboard overview, class class-a: \d+ values differ \(\d+ students\)\n {2}student +column +old +new\n {2}s-\d{4} +\w+ +\S+ +\S+\n/m);
    expect(r.stdout).toMatch(/^ {2}\.\.\. \d+ more \(--limit N or --json for all\)$/m);
    expect(r.stdout).toMatch(/^\d+ values differ in 4 classes of 1 dashboards$/m);
    const same = await run('diff', demo, demo, '--events', events);
    expect(same.code).toBe(0);
    expect(same.stdout).toBe('no differences: every dashboard shows the same values\n');
  });

  it('reads an exported archive', async () => {
    const { pipeline } = await compilePipelineFile(join(root, demo));
    const writer = await ArchiveWriter.open(join(dir, 'archive'), { name: pipeline!.name, text: pipeline!.text, sources: pipeline!.sources.keys() }, 500);
    const engine = new Engine(pipeline!, { archive: writer });
    const lines = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l).event);
    await engine.ingest('extension', lines);
    await engine.stop(); // commits the archive
    const car = join(dir, 'run.car');
    await exportCar(writer.store, (await writer.store.head())!, car);
    const fromCar = await run('diff', demo, edit, '--archive', car, '--json');
    const fromNdjson = await run('diff', demo, edit, '--events', events, '--json');
    expect(fromCar.code).toBe(1);
    expect(JSON.parse(fromCar.stdout)).toEqual(JSON.parse(fromNdjson.stdout));
  });

  it('refuses bad arguments with a reason', async () => {
    expect((await run('diff', demo, edit)).code).toBe(2);
    const notCar = await run('diff', demo, edit, '--archive', events);
    expect(notCar.code).toBe(2);
    expect(notCar.stderr).toMatch(/--archive takes a \.car file/);
    writeFileSync(join(dir, 'bad.ndjson'), '{"event":"keystroke","auth":{"user_id":"s-0001"},"ts":1}\nnot json\n');
    const bad = await run('diff', demo, demo, '--events', join(dir, 'bad.ndjson'));
    expect(bad.stderr).toMatch(/1 lines not JSON/);
    expect(bad.stderr).toMatch(/line 2: not JSON/);
  });
});
