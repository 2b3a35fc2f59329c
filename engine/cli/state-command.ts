import { openStateStore } from '../state/open.js';
import { producersOf } from '../state-version.js';
import type { CompiledPipeline } from '../types.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow state ls|drop <pipeline.yaml> [options]

State is kept per reducer and per reducer version (a hash of the reducer's definition and of the
versions of the reducers whose streams it reads): editing a reducer starts its state, and that of the
reducers reading what it emits, fresh under new versions; the other reducers keep theirs.

  ls                      per reducer and version: keys, bytes, and whether the pipeline uses it
                          (current) or not any more (stale, with the stale reducers upstream)
  drop --reducer R        delete every version of reducer R's state
  drop --stale            delete the state of versions the pipeline no longer uses
Options:
  --state URL   memory or redis://host:port (env LOFLOW_STATE; the pipeline's state:)
  --help        this text`;

export const stateCommand: Command = {
  name: 'state',
  summary: 'show and clear reducer state per reducer and version',
  usage,
  requires: ['ls|drop', '<pipeline.yaml>'],
  flags: ['stale'],
  async run({ positionals, options }) {
    const [sub, file] = positionals;
    const pipeline = await loadPipeline(file);
    if (!pipeline) return 1;
    const store = await openStateStore(typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state));
    try {
      const current = new Map(pipeline.reducers.map((r) => [r.name, r.version]));
      const rows = new Map<string, { reducer: string; version: string; keys: number; bytes: number }>();
      for await (const [ref, state] of store.scan(pipeline.name)) {
        const id = `${ref.reducer}\0${ref.version}`;
        const row = rows.get(id) ?? { reducer: ref.reducer, version: ref.version, keys: 0, bytes: 0 };
        row.keys++;
        row.bytes += JSON.stringify(state).length;
        rows.set(id, row);
      }
      if (sub === 'ls') {
        console.log(`pipeline '${pipeline.name}' in ${store.kind} state, offset ${await store.offset(pipeline.name)}`);
        const stale = new Set([...rows.values()].filter((x) => current.get(x.reducer) !== x.version).map((x) => x.reducer));
        for (const r of [...rows.values()].sort((a, b) => a.reducer.localeCompare(b.reducer))) {
          const status = current.get(r.reducer) === r.version ? 'current' : current.has(r.reducer) ? staleWhy(pipeline, r.reducer, stale) : 'stale (reducer removed)';
          console.log(`${r.reducer.padEnd(16)} ${r.version}  ${String(r.keys).padStart(8)} keys  ${String(r.bytes).padStart(10)} bytes  ${status}`);
        }
        if (rows.size === 0) console.log('(no state)');
        return 0;
      }
      if (sub === 'drop') {
        if (typeof options.reducer === 'string') {
          const n = await store.drop(pipeline.name, options.reducer);
          console.log(`dropped ${n} states of reducer '${options.reducer}' (all versions)`);
          return 0;
        }
        if (options.stale) {
          // drop() works per reducer (all versions): rewrite is not possible per version, so refuse when a
          // reducer has both a current and a stale version and say what to do.
          for (const r of new Set([...rows.values()].filter((x) => current.get(x.reducer) !== x.version).map((x) => x.reducer))) {
            if ([...rows.values()].some((x) => x.reducer === r && current.get(r) === x.version)) {
              console.error(`reducer '${r}' has current state too: not dropped (use --reducer ${r} to drop all its versions)`);
              continue;
            }
            console.log(`dropped ${await store.drop(pipeline.name, r)} stale states of '${r}'`);
          }
          return 0;
        }
        console.error('drop needs --reducer R or --stale: nothing is destroyed without naming it');
        return 2;
      }
      console.error(`unknown state subcommand '${sub}'\n\n${usage}`);
      return 2;
    } finally {
      await store.close();
    }
  },
};

/**
 * Why a reducer's stored version is not the current one. A version covers the reducers upstream, so the
 * store alone cannot tell an own edit from an upstream one; it names the upstream reducers it holds stale
 * state of too (the likely cause). A reducer reading only sources can only have changed itself.
 */
function staleWhy(pipeline: CompiledPipeline, reducer: string, stale: Set<string>): string {
  const r = pipeline.reducers.find((x) => x.name === reducer)!;
  const producers = r.from.flatMap((s) => producersOf(pipeline.reducers, s));
  if (producers.length === 0) return 'stale (definition changed)';
  const up = new Set<string>();
  const walk = (names: string[]) => {
    for (const n of names) {
      if (up.has(n)) continue;
      up.add(n);
      walk(pipeline.reducers.find((x) => x.name === n)!.from.flatMap((s) => producersOf(pipeline.reducers, s)).map((p) => p.name));
    }
  };
  walk(producers.map((p) => p.name));
  const named = [...up].filter((n) => stale.has(n));
  return named.length ? `stale (definition or upstream changed: ${named.map((n) => `'${n}'`).join(', ')} stale too)` : 'stale (definition or upstream changed)';
}
