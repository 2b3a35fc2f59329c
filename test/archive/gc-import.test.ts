import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { CID, encodeBlock } from '../../archive/blocks.js';
import { walk } from '../../archive/car.js';
import { gc } from '../../archive/gc.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { archivedRun, cli, tmp } from './helpers.js';

async function dagOf(store: FolderBlockstore, root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const b of walk(store, CID.parse(root))) out.push(b.cid.toString());
  return out.sort();
}

describe('archive pin, unpin, gc, import', () => {
  it('gc keeps what HEAD (with its history), pins and the analysis log reach, and prints what it removed', async () => {
    const run = await archivedRun({ batches: 3 });
    const store = new FolderBlockstore(run.dir);
    const head = run.commits.at(-1)!;
    const kept = await dagOf(store, head);
    // Garbage: a stray block, and a temp file an interrupted write left behind.
    const stray = await encodeBlock({ type: 'loflow/chunk', stream: 'x', prev: null, count: 0, events: [] });
    await store.put(stray);
    writeFileSync(join(store.blocks, 'bafyinterrupted.123.0.tmp'), 'half');
    // A filtered export's blocks are not in the folder; import it to have a second DAG, then pin it.
    const car = join(run.dir, '..', 'sel.car');
    const e = await cli(['archive', 'export', '--dir', run.dir, '--stream', 'batch', '--out', car]);
    expect(e.code, e.stderr).toBe(0);
    // The second folder has an archive of its own (another pipeline, so no block in common): an import
    // there pins the imported root and leaves HEAD alone.
    const other = join(tmp(), 'other');
    const own = await ArchiveWriter.open(other, { name: 'q', text: 'q', sources: ['s'] }, 2);
    await own.append('s', [{ offset: 0, stream: 's', event: { event: 'own' }, at: 0 }]);
    const ownHead = await own.commit();
    await own.close();
    const ownBlocks = await dagOf(new FolderBlockstore(other), ownHead);
    const imp = await cli(['archive', 'import', car, '--dir', other]);
    expect(imp.code, imp.stderr).toBe(0);
    const selRoot = imp.stdout.trim();
    expect(imp.stderr).toMatch(/imported .* \d+ blocks \(\d+ new, \d+ bytes\), root pinned/);
    expect((await cli(['archive', 'pins', '--dir', other])).stdout.trim()).toBe(selRoot);

    const r = await cli(['archive', 'gc', '--dir', run.dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`removed ${stray.cid}`, 'removed bafyinterrupted.123.0.tmp (temp file of an interrupted write)']);
    const left = readdirSync(store.blocks).sort();
    for (const c of kept) expect(left).toContain(c); // every block of HEAD's DAG, history included
    expect(await dagOf(store, run.commits[0])).toEqual(expect.arrayContaining([run.commits[0]]));
    // The analysis log (the export above) is kept too: its pipeline block and entries.
    const analyses = readFileSync(join(run.dir, 'ANALYSES'), 'utf8').trim();
    expect(left).toContain(analyses);

    // In the second folder the imported DAG lives only through its pin: unpin, and gc removes all of it.
    const otherStore = new FolderBlockstore(other);
    const selBlocks = await dagOf(otherStore, selRoot);
    expect((await cli(['archive', 'gc', '--dir', other, '--dry-run'])).stdout).toBe('');
    expect((await cli(['archive', 'unpin', selRoot, '--dir', other])).stdout.trim()).toBe(`unpinned ${selRoot}`);
    const dry = await cli(['archive', 'gc', '--dir', other, '--dry-run']);
    expect(dry.stdout.trim().split('\n').sort()).toEqual(selBlocks.map((c) => `would remove ${c}`).sort());
    expect(readdirSync(otherStore.blocks)).toHaveLength(selBlocks.length + ownBlocks.length);
    const g = await cli(['archive', 'gc', '--dir', other]);
    expect(g.stderr).toContain(`removed ${selBlocks.length} blocks`);
    expect(readdirSync(otherStore.blocks).sort()).toEqual(ownBlocks);
    // Pin it back by importing again.
    expect((await cli(['archive', 'import', car, '--dir', other])).code).toBe(0);
    expect((await cli(['archive', 'pin', selRoot, '--dir', other])).stdout.trim()).toBe(`already pinned ${selRoot}`);
  });

  it('gc refuses while a writer has the archive open (its newest chunks are not committed yet)', async () => {
    const dir = tmp();
    const w = await ArchiveWriter.open(dir, { name: 'p', text: 't', sources: ['s'] }, 2);
    await w.append('s', [0, 1, 2].map((i) => ({ offset: i, stream: 's', event: { event: 'x', n: i }, at: i })));
    await expect(gc(w.store)).rejects.toThrow(/has a writer open in this process; close it first/);
    const r = await cli(['archive', 'gc', '--dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is in use by process \d+ \(its LOCK file\); stop it first/);
    await w.commit();
    await w.close();
    expect((await gc(w.store)).removed).toEqual([]);
  });

  it('import refuses a corrupted CAR, naming the bad block, and stores nothing', async () => {
    const run = await archivedRun({ batches: 1 });
    const car = join(run.dir, '..', 'bad.car');
    expect((await cli(['archive', 'export', '--dir', run.dir, '--out', car])).code).toBe(0);
    const bytes = readFileSync(car);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(car, bytes);
    const into = join(tmp(), 'into');
    const r = await cli(['archive', 'import', car, '--dir', into]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/was not imported: block #\d+ bafy\w+: its bytes do not hash to its CID \(corrupted\)/);
    expect(readdirSync(join(into, 'blocks'))).toEqual([]);
    expect(existsSync(join(into, 'pins'))).toBe(false);
    // pin/unpin of unknown or bad CIDs: clear errors.
    expect((await cli(['archive', 'pin', 'not-a-cid', '--dir', into])).stderr).toMatch(/'not-a-cid' is not a CID/);
    expect((await cli(['archive', 'pin', run.commits[0], '--dir', into])).stderr).toMatch(/has no block bafy\w+ to pin/);
    expect((await cli(['archive', 'unpin', run.commits[0], '--dir', into])).code).toBe(1);
  });
});
