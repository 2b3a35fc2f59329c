import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { listAnalyses, fileCid } from '../../archive/analysis-log.js';
import { encodeBlock } from '../../archive/blocks.js';
import { archivedRun, cli, tmp } from './helpers.js';

describe('analysis log', () => {
  it('two replays of one CAR add two entries with the same output (result) CID; an export adds one too', async () => {
    const run = await archivedRun({ batches: 3 });
    const car = join(run.dir, '..', 'run.car');
    const e = await cli(['archive', 'export', '--dir', run.dir, '--out', car]);
    expect(e.code, e.stderr).toBe(0);
    const root = e.stdout.trim();
    const results = [];
    for (let k = 0; k < 2; k++) {
      const r = await cli(['replay', 'pipelines/writing-observer.yaml', car, '--archive', run.dir, '--summary']);
      expect(r.code, r.stderr).toBe(0);
      results.push(/result CID (\S+)/.exec(r.stderr)![1]);
    }
    expect(results[0]).toBe(results[1]);

    const log = await listAnalyses(new FolderBlockstore(run.dir));
    expect(log.map((x) => x.entry.command)).toEqual([
      expect.stringMatching(/^replay pipelines\/writing-observer\.yaml .*run\.car/),
      expect.stringMatching(/^replay /),
      expect.stringMatching(/^archive export --dir .* --out .*run\.car$/),
    ]);
    const [second, first, exported] = log;
    const pipelineCid = (await encodeBlock({ type: 'loflow/pipeline', name: run.pipeline.name, text: run.pipeline.text })).cid.toString();
    for (const { entry } of [first, second]) {
      expect(entry.output.toString()).toBe(results[0]);
      expect(entry.input.toString()).toBe(root);
      expect(entry.pipeline.toString()).toBe(pipelineCid);
      expect(entry.engine).toMatch(/^loflow \d+\.\d+\.\d+/);
    }
    // Append-only and linked: each entry names the previous one.
    expect(second.entry.prev!.toString()).toBe(first.cid.toString());
    expect(first.entry.prev!.toString()).toBe(exported.cid.toString());
    expect(exported.entry).toMatchObject({ prev: null });
    expect(exported.entry.input.toString()).toBe(root);
    expect(exported.entry.output.toString()).toBe(root);

    const listed = await cli(['archive', 'log', '--analyses', '--dir', run.dir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.match(/^analysis /gm)).toHaveLength(3);
    expect(listed.stdout).toContain(`Output:   ${results[0]}`);
  });

  it('an NDJSON replay is logged with the CID of the file (raw sha2-256) as its input', async () => {
    const dir = tmp();
    const file = join(dir, 'events.ndjson');
    writeFileSync(file, '{"event":"keystroke","auth":{"user_id":"s-0001"},"ts":1}\n');
    const r = await cli(['replay', 'pipelines/writing-observer.yaml', file, '--archive', join(dir, 'a'), '--summary']);
    expect(r.code, r.stderr).toBe(0);
    const [only] = await listAnalyses(new FolderBlockstore(join(dir, 'a')));
    expect(only.entry.input.toString()).toBe((await fileCid(file)).toString());
    expect(only.entry.input.toString()).toMatch(/^bafkrei/); // raw codec
    const again = await cli(['replay', 'pipelines/writing-observer.yaml', file, '--archive', join(dir, 'a'), '--no-log', '--summary']);
    expect(again.code).toBe(0);
    expect(await listAnalyses(new FolderBlockstore(join(dir, 'a')))).toHaveLength(1);
  });
});
