// The archive CLI on an encrypted archive after an erasure (the built binary): replay counts the unreadable
// learner, `archive learner` needs the key and finds nothing of the erased one, a filtered export holds no
// byte of theirs, and verify needs no key.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CID } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { exportCar } from '../../archive/car.js';
import { ensureMasterKeyFile, FileDekStore, openKeyProvider } from '../../archive/keys/index.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { archivedRun, cli, demoFile, tmp } from './helpers.js';

const L = 's-0001';

describe('archive CLI with keys', () => {
  it('replay reports the erased learner, learner/export decrypt with the key, verify needs none', async () => {
    const base = tmp();
    const keyFile = join(base, 'master.key');
    ensureMasterKeyFile(keyFile);
    const provider = (await openKeyProvider({ masterKeyFile: keyFile, env: {} }))!;
    const d = join(base, 'archive');
    const deks = FileDekStore.forArchive(d);
    const run = await archivedRun({ dir: d, crypto: { provider, deks }, batches: 3, perBatch: 200, students: 4 });
    const w = await ArchiveWriter.open(d, { name: run.pipeline.name, text: run.pipeline.text, sources: run.pipeline.sources.keys() }, 100, { crypto: { provider, deks } });
    await w.erase({ learner: L, record: { by: 'dpo', reason: 'request' } });
    const newRoot = await w.commit();
    await w.close();
    const oldRoot = run.commits[run.commits.length - 1];

    const noKey = await cli(['replay', demoFile, oldRoot, '--archive', d, '--no-log'], { env: { LOFLOW_MASTER_KEY_FILE: '' } });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toMatch(/encrypted.*master key/);
    const r1 = await cli(['replay', demoFile, oldRoot, '--archive', d, '--no-log', '--master-key-file', keyFile]);
    expect(r1.code).toBe(0);
    expect(r1.stderr).toMatch(/unreadable: 1 learner \(1 erased, 0 key missing\)/);
    const r2 = await cli(['replay', demoFile, newRoot, '--archive', d, '--no-log', '--master-key-file', keyFile]);
    expect(r2.code).toBe(0);
    expect(r2.stderr).not.toMatch(/unreadable/);
    const cidOf = (err: string) => /result CID (\S+)/.exec(err)?.[1];
    expect(cidOf(r1.stderr)).toMatch(/^bafy/);
    expect(cidOf(r1.stderr)).toBe(cidOf(r2.stderr));

    const other = await cli(['archive', 'learner', 's-0002', '--dir', d, '--master-key-file', keyFile]);
    expect(other.code).toBe(0);
    expect(other.stdout.trim().split('\n').length).toBeGreaterThan(5);
    const gone = await cli(['archive', 'learner', L, '--dir', d, '--master-key-file', keyFile]);
    expect(gone.stdout.trim()).toBe('');
    const oldGone = await cli(['archive', 'learner', L, '--dir', d, '--commit', oldRoot, '--master-key-file', keyFile]);
    expect(oldGone.stdout.trim()).toBe('');
    expect(oldGone.stderr).toMatch(/unreadable: 1 learner \(1 erased/);

    const out = join(base, 'study.car');
    const exp = await cli(['archive', 'export', '--dir', d, '--stream', 'extension', '--out', out, '--master-key-file', keyFile, '--no-log']);
    expect(exp.code).toBe(0);
    const bytes = readFileSync(out);
    expect(bytes.includes(Buffer.from(L))).toBe(false);
    expect(bytes.includes(Buffer.from('s-0002'))).toBe(true); // a plaintext research copy of the others

    const whole = join(base, 'whole.car');
    await exportCar(new FolderBlockstore(d), CID.parse(newRoot), whole);
    const v = await cli(['archive', 'verify', whole], { env: { LOFLOW_MASTER_KEY_FILE: '' } });
    expect(v.code).toBe(0);
  });
});
