// The check `run`/`serve` make before starting: a state-breaking edit is refused (plan printed, exit 3)
// unless --reset or --rebuild says what to do with the old state. Nothing is destroyed silently.
import { archivedEvents, rebuildFromArchive } from '../rebuild.js';
import type { CompiledPipeline, StateStore } from '../types.js';
import { checkStore, describeCheck, resetStale } from '../upgrade.js';

export interface GateOptions {
  reset: boolean;
  rebuild: boolean;
  /** Archive folder or .car file to rebuild from. */
  archive: string;
}

/** Resolves to null when the pipeline may start, else the exit code (the reason is printed). */
export async function stateGate(store: StateStore, pipeline: CompiledPipeline, opts: GateOptions): Promise<number | null> {
  if (opts.reset && opts.rebuild) {
    console.error('--reset and --rebuild exclude each other: choose one');
    return 2;
  }
  const check = await checkStore(store, pipeline);
  const lines = describeCheck(check);
  if (check.breaking.length === 0) {
    // State-compatible leftovers (removed reducers) are reported, not refused.
    for (const l of lines.filter((x) => x.startsWith('state-compatible'))) console.log(`loflow: ${l}`);
    await store.saveLastPipeline?.(pipeline.name, { file: pipeline.file, text: pipeline.text });
    return null;
  }
  if (!opts.reset && !opts.rebuild) {
    console.error(`loflow: refusing to start '${pipeline.name}': the state store holds state the edited pipeline computes differently`);
    for (const l of lines) console.error(`  ${l}`);
    console.error(
      'Start with --rebuild to recompute the changed reducers from the archive (then serve), or --reset to drop their old state and start them empty. ' +
        'Nothing has been changed.',
    );
    return 3;
  }
  for (const l of lines) console.log(`loflow: ${l}`);
  if (opts.reset) {
    for (const l of await resetStale(store, pipeline.name, check.breaking)) console.log(`loflow: ${l}`);
  } else {
    const sources = [...pipeline.sources.keys()];
    let r;
    try {
      r = await rebuildFromArchive(store, pipeline, check.breaking, await archivedEvents(opts.archive, sources));
    } catch (err) {
      console.error(`loflow: cannot rebuild: ${(err as Error).message}`);
      return 1;
    }
    const written = Object.entries(r.written).map(([name, n]) => `${name} (${n} keys)`).join(', ');
    console.log(`loflow: rebuilt ${written} from ${r.events} archived events${r.rejected ? ` (${r.rejected} refused by the new schema)` : ''}; dropped ${r.dropped} old states`);
  }
  await store.saveLastPipeline?.(pipeline.name, { file: pipeline.file, text: pipeline.text });
  return null;
}
