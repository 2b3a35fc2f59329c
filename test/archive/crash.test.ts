import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CID, verifyBlock } from '../../archive/blocks.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { gc } from '../../archive/gc.js';
import { folderSource, readCommit, streamEntries } from '../../archive/read.js';
import { tmp } from './helpers.js';

/** Run the writer child until it has printed `commits` commits, then SIGKILL it mid-write. */
function runAndKill(dir: string, from: number, commits: number): Promise<{ last: string; lastOffset: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/crash-writer.ts'), dir, String(from)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let seen = 0;
    let last = { last: '', lastOffset: 0 };
    child.stdout.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        const [, cid, off] = l.split(' ');
        last = { last: cid, lastOffset: Number(off) };
        // A few ms later it is writing the next chunks (hundreds of KB, fsynced) or its commit.
        if (++seen === commits) setTimeout(() => child.kill('SIGKILL'), commits % 5);
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(last) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

describe('crash safety', () => {
  it('after SIGKILL mid-write, HEAD\'s DAG is complete and every block hashes to its CID; the next writer takes over', async () => {
    const dir = join(tmp(), 'archive');
    let offset = 0;
    for (let round = 0; round < 3; round++) {
      const { last, lastOffset } = await runAndKill(dir, offset, 6 + round * 3);
      const store = new FolderBlockstore(dir);
      const head = (await store.head())!;
      // HEAD is the last commit the child printed, or a later one it wrote before the kill landed.
      const src = await folderSource(dir); // checks every block's hash as it reads
      const commit = await readCommit(src);
      expect(commit.counts.s).toBeGreaterThanOrEqual(lastOffset);
      const entries = await streamEntries(src, commit, 's');
      expect(entries.map((e) => e.o)).toEqual(Array.from({ length: commit.counts.s }, (_, i) => i)); // no gap, no loss
      if (head.toString() !== last) expect(commit.counts.s).toBeGreaterThan(lastOffset);
      // Exported, the whole history verifies (every hash, DAG complete).
      const car = join(dir, '..', `round-${round}.car`);
      await exportCar(store, head, car);
      expect(await verifyCar(car)).toMatchObject({ ok: true, root: head.toString() });
      // Atomic writes: every file named by a CID holds exactly that CID's bytes, even those no commit reached.
      const { cids } = await store.list();
      for (const c of cids) expect(await verifyBlock(CID.parse(c), await store.get(c)), c).toBe(true);
      offset = commit.counts.s;
    }
    // gc (the dead writer's lock is stale) removes only chunks no commit reached and interrupted temp files.
    const store = new FolderBlockstore(dir);
    const before = readdirSync(store.blocks).length;
    const r = await gc(store);
    if (process.env.CRASH_DEBUG) console.log(`gc after the kills: removed ${r.removed.length} blocks and ${r.temps.length} temp files no commit reached`);
    expect(r.kept + r.removed.length).toBe(before - r.temps.length);
    const car = join(dir, '..', 'after-gc.car');
    await exportCar(store, (await store.head())!, car);
    expect((await verifyCar(car)).ok).toBe(true);
  });
});
