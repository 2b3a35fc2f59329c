// A CAR written by loflow read by independent IPFS tooling: the ipfs-car CLI (not loflow's code).
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CID } from '../../archive/blocks.js';
import { exportCar, walk } from '../../archive/car.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { archivedRun, root } from './helpers.js';

const ipfsCar = (...args: string[]) => promisify(execFile)(join(root, 'node_modules/.bin/ipfs-car'), args);

describe('interoperability', () => {
  it('the ipfs-car CLI lists the root and every block of a loflow CAR', async () => {
    const run = await archivedRun({ batches: 3 });
    const store = new FolderBlockstore(run.dir);
    const head = CID.parse(run.commits.at(-1)!);
    const car = join(run.dir, '..', 'run.car');
    const { blocks } = await exportCar(store, head, car);

    const roots = await ipfsCar('roots', car);
    expect(roots.stdout.trim()).toBe(head.toString());

    const listed = (await ipfsCar('blocks', car)).stdout.trim().split('\n');
    const ours: string[] = [];
    for await (const b of walk(store, head)) ours.push(b.cid.toString());
    expect(listed).toHaveLength(blocks);
    expect(listed).toEqual(ours); // the same blocks, in the order loflow wrote them
    expect(listed.every((c) => c.startsWith('bafyrei'))).toBe(true); // CIDv1, dag-cbor, sha2-256
  });
});
