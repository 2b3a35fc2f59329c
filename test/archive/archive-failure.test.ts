// The archive's disk fails while the pipeline runs: processing goes on, health says the archive stopped, and
// the writer takes nothing more (no gap that a later commit would make durable). After a restart the archive
// is re-fed from the input log and holds every raw event once.
import { describe, expect, inject, it } from 'vitest';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { FileInputLog } from '../../engine/log/file-log.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { openArchive } from '../../archive/replay-source.js';
import { demoFile, tmp } from './helpers.js';

const keystrokes = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ event: 'keystroke', ts: (from + i) * 100, auth: { user_id: `s-${String((from + i) % 20).padStart(4, '0')}` } }));

describe('archive failure', () => {
  it('stops the archive (health says so), keeps processing, and a restart re-feeds every raw event once', async () => {
    const dir = tmp('loflow-archive-failure-');
    const name = `afail${Date.now()}`;
    const text = readFileSync(demoFile, 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`).replace('commit_every: 10s', 'commit_every: 1h');
    const pipeline = (await compilePipeline(text, demoFile)).pipeline!;
    const archiveDir = join(dir, 'archive');
    const open = async () => {
      const writer = await ArchiveWriter.open(archiveDir, { name, text, sources: pipeline.sources.keys() }, 2); // chunks fill during appends: appends write blocks
      const engine = new Engine(pipeline, { store: await RedisStateStore.connect(inject('redisUrl')), log: new FileInputLog(join(dir, 'log')), archive: writer });
      await engine.start();
      return { writer, engine };
    };

    const first = await open();
    await first.engine.ingest('batch', keystrokes(0, 100));
    await first.engine.flush();
    await first.writer.commit();
    expect(first.engine.health().ok).toBe(true);

    // blocks/ becomes a file (the folder set aside): every chunk write fails, also as root.
    renameSync(join(archiveDir, 'blocks'), join(archiveDir, 'blocks.aside'));
    writeFileSync(join(archiveDir, 'blocks'), '');
    await first.engine.ingest('batch', keystrokes(100, 100));
    await first.engine.flush();
    for (let i = 0; first.engine.health().ok && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
    expect(first.engine.health()).toMatchObject({ ok: false, error: expect.stringMatching(/^archive stopped: .*ENOTDIR/) });
    expect(first.engine.stats().committedOffset).toBe(200); // processing went on

    // The disk is back, but the writer missed events: it takes no more (events 200-249 stay in the log only).
    rmSync(join(archiveDir, 'blocks'));
    renameSync(join(archiveDir, 'blocks.aside'), join(archiveDir, 'blocks'));
    await first.engine.ingest('batch', keystrokes(200, 50));
    await first.engine.flush();
    await expect(first.writer.commit()).rejects.toThrow(/stopped after a failed append/);
    await first.engine.stop(); // its archive commit fails (reported), the rest closes

    const second = await open();
    await second.engine.flush();
    expect(second.engine.health().ok).toBe(true);
    await second.engine.stop(); // commits the re-fed archive

    const head = await new FolderBlockstore(archiveDir).head();
    const archive = await openArchive(head!.toString(), { dir: archiveDir });
    const offsets: number[] = [];
    for await (const e of archive.events(['batch'])) offsets.push(e.offset);
    expect(offsets).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });
});
