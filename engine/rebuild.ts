// `--rebuild`: recompute changed reducers from the archive, in memory, then cut over in the live store.
// Only the changed reducers (and the upstream reducers whose emitted streams they read) run; their states
// are computed over exactly the events the store has committed (offsets below its offset), so after the
// cut-over every reducer, rebuilt or kept, has seen the same events and the live log resumes where it was.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBlock } from '../archive/blocks.js';
import { FolderBlockstore } from '../archive/blockstore.js';
import { exportCar } from '../archive/car.js';
import { openArchive } from '../archive/replay-source.js';
import type { CommitBlock } from '../archive/writer.js';
import { Engine } from './runtime.js';
import type { CompiledPipeline, CompiledReducer, Json, LoEvent, StateRef, StateStore } from './types.js';
import { producersOf } from './state-version.js';
import type { StaleVersion } from './upgrade.js';

/** An archived raw event with its input log offset and the arrival time (ms) it was first ingested at. */
export type ArchivedEvent = { stream: string; event: LoEvent; offset: number; at: number };

/** The raw events of an archive folder (its HEAD commit) or a .car file, in log order. */
export async function archivedEvents(path: string, sources: string[]): Promise<AsyncIterable<ArchivedEvent>> {
  // Encrypted archives: keys from the environment (LOFLOW_MASTER_KEY_FILE / LOFLOW_MASTER_KEY), data keys in the folder's keys/.
  if (path.endsWith('.car')) return (await openArchive(path, { keyOptions: {} })).events(sources);
  if (!existsSync(join(path, 'HEAD'))) throw new Error(`no archive commit in ${path}: nothing to rebuild from (was the pipeline run with an archive: section?)`);
  // The folder's HEAD is exported to a temporary CAR so one reader serves both forms.
  const store = new FolderBlockstore(path);
  const head = await store.head();
  if (!head) throw new Error(`no archive commit in ${path}`);
  decodeBlock<CommitBlock>(await store.get(head));
  const tmp = mkdtempSync(join(tmpdir(), 'loflow-rebuild-'));
  const car = join(tmp, 'head.car');
  await exportCar(store, head, car);
  const archive = await openArchive(car, { dir: path, keyOptions: {} });
  return (async function* () {
    try {
      yield* archive.events(sources);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  })();
}

/** The reducers to run: the named ones and, transitively, the producers of the streams they read. */
function withUpstream(pipeline: CompiledPipeline, names: Set<string>): CompiledReducer[] {
  const need = new Set(names);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of pipeline.reducers) {
      if (!need.has(r.name)) continue;
      for (const s of r.from) {
        for (const producer of producersOf(pipeline.reducers, s)) {
          if (need.has(producer.name)) continue;
          need.add(producer.name);
          grew = true;
        }
      }
    }
  }
  return pipeline.reducers.filter((r) => need.has(r.name));
}

export interface RebuildResult {
  events: number;
  rejected: number;
  written: Record<string, number>;
  dropped: number;
}

/**
 * Recompute `breaking`'s reducers over the archived events below the store's committed offset and write
 * them under their new versions, then drop the old versions. Refuses (throws, touching nothing) when the
 * archive does not hold every committed event: a partial rebuild would silently undercount.
 */
export async function rebuildFromArchive(store: StateStore, pipeline: CompiledPipeline, breaking: StaleVersion[], events: AsyncIterable<ArchivedEvent>): Promise<RebuildResult> {
  const committed = await store.offset(pipeline.name);
  const names = new Set(breaking.map((b) => b.reducer));
  const reducers = withUpstream(pipeline, names);
  // Only the reducers to rebuild: no aggregations, dashboards or archive in the scratch run.
  const scratch: CompiledPipeline = { ...pipeline, reducers, aggregations: new Map(), dashboards: new Map(), archive: undefined };
  const engine = new Engine(scratch, { batchSize: 4096, queueLimit: 4096 * 8 });
  await engine.start();
  let seen = 0;
  let rejected = 0;
  let stream = '';
  let at = 0;
  let group: LoEvent[] = [];
  // Each event is fed with its archived arrival time: a reducer whose events carry no event time falls
  // back to it (windows, durations), so the rebuilt state equals the live one.
  const flush = async () => {
    if (group.length) rejected += (await engine.ingest(stream, group, at)).rejected.length;
    group = [];
  };
  for await (const e of events) {
    if (e.offset >= committed) continue; // archived but not committed: the live log replays it
    seen++;
    if (e.stream !== stream || e.at !== at || group.length >= 4096) {
      await flush();
      stream = e.stream;
      at = e.at;
    }
    group.push(e.event);
  }
  await flush();
  await engine.flush();
  if (seen !== committed) {
    await engine.stop();
    throw new Error(
      `the archive holds ${seen} of the ${committed} events the state store has committed: a rebuild from it would miss events. ` +
        'Nothing was changed. Use --reset to start the changed reducers empty, or rebuild from an archive that covers the whole log.',
    );
  }
  const written: Record<string, number> = {};
  for (const name of names) {
    const r = pipeline.reducers.find((x) => x.name === name)!;
    // Keys already under the new version (from an interrupted rebuild) are replaced, not mixed in.
    await store.drop(pipeline.name, r.name, r.version);
    const keys = engine.keys(r.name);
    for (let i = 0; i < keys.length; i += 1000) {
      const writes: Array<[StateRef, Json]> = keys.slice(i, i + 1000).map((key) => [{ pipeline: pipeline.name, reducer: r.name, version: r.version, key }, engine.stateOf(r.name, key)!]);
      await store.commit({ pipeline: pipeline.name, writes, offset: committed });
    }
    written[r.name] = keys.length;
  }
  await engine.stop();
  // Cut over: the new versions are complete, so the old ones can go (a crash before this point leaves the
  // old versions in place and the next start refuses again, so the rebuild is simply run again).
  let dropped = 0;
  // (A version covers its upstream, so a stale version differs from the current one; the check guards the
  // states just written all the same.)
  for (const b of breaking) if (b.version !== b.current) dropped += await store.drop(pipeline.name, b.reducer, b.version);
  return { events: seen, rejected, written, dropped };
}
