// `serve --watch`: on every save of the pipeline file, compile and plan it against the running version.
// Stateless and state-compatible edits are swapped in live (connections and state kept); a state-breaking
// edit, one that adds, removes or moves a source or changes archive settings, or one that does not
// compile is refused with the reason, and the running version goes on unchanged.
import { unwatchFile, watchFile } from 'node:fs';
import { canonicalJson, compilePipelineFile, formatError } from '../compiler.js';
import { planChanges } from '../plan.js';
import type { Engine } from '../runtime.js';
import type { CompiledPipeline, StateStore } from '../types.js';
import { formatPlan } from '../upgrade.js';

/** Changes the running server cannot take live: source routes and sockets are bound at start. */
function needsRestart(before: CompiledPipeline, after: CompiledPipeline): string[] {
  const out: string[] = [];
  for (const [name, s] of after.sources) {
    const o = before.sources.get(name);
    if (!o) out.push(`source '${name}' added`);
    else if (o.kind !== s.kind || o.path !== s.path) out.push(`source '${name}' moved (${o.kind} ${o.path ?? ''} -> ${s.kind} ${s.path ?? ''})`);
  }
  for (const name of before.sources.keys()) if (!after.sources.has(name)) out.push(`source '${name}' removed`);
  // The archive sink and its commit timer are also set up at start; only the derived streams it keeps
  // are read per batch.
  const archive = (p: CompiledPipeline) => (p.archive ? canonicalJson({ ...p.spec.archive, derived: undefined }) : null);
  if (archive(before) !== archive(after)) out.push(before.archive && after.archive ? 'archive settings changed' : after.archive ? 'archive added' : 'archive removed');
  return out;
}

/** Each report is one `log` call (one write), so a reader never sees its first line without the rest. */
export function watchPipeline(file: string, engine: Engine, store: StateStore, log: (line: string) => void = console.log): () => void {
  let chain = Promise.resolve();
  const reload = async () => {
    const { pipeline: next, errors } = await compilePipelineFile(file);
    if (!next || errors.length) {
      log([`loflow: watch: ${file} does not compile; the running version is kept`, ...errors.map((e) => `  ${formatError(e)}`)].join('\n'));
      return;
    }
    const current = engine.pipeline;
    if (next.text === current.text) return;
    const changes = planChanges(current, next);
    if (changes.length === 0) {
      log('loflow: watch: no change that matters (comments or formatting)');
      return;
    }
    const plan = formatPlan(changes).map((l) => `  ${l}`);
    const breaking = changes.some((c) => c.kind === 'state-breaking');
    const restarts = needsRestart(current, next);
    if (breaking || restarts.length) {
      const hint = breaking ? ['  to apply it, restart with --rebuild (recompute from the archive) or --reset (start the changed reducers empty)'] : [];
      log([`loflow: watch: refused: ${breaking ? 'a state-breaking edit' : `${restarts.join(', ')}: needs a restart`}; the running version is kept`, ...plan, ...hint].join('\n'));
      return;
    }
    try {
      engine.swapPipeline(next);
    } catch (err) {
      log(`loflow: watch: refused: ${(err as Error).message}`);
      return;
    }
    await store.saveLastPipeline?.(next.name, { file: next.file, text: next.text });
    log([`loflow: watch: applied live (${changes.length} change${changes.length === 1 ? '' : 's'}; connections and state kept)`, ...plan].join('\n'));
  };
  // Polling by path survives editors that save by writing a new file and renaming it over the old one.
  const onChange = (cur: { mtimeMs: number; size: number }, prev: { mtimeMs: number; size: number }) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
    chain = chain.then(reload).catch((err) => log(`loflow: watch: reload failed: ${(err as Error).message}; the running version is kept`));
  };
  watchFile(file, { interval: 250 }, onChange);
  return () => unwatchFile(file, onChange);
}
