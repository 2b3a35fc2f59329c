// `serve --watch`: on every save of the pipeline file, compile and plan it against the running version.
// Stateless and state-compatible edits are swapped in live (connections and state kept); a state-breaking
// edit, one that adds, removes or moves a source or changes archive settings, or one that does not
// compile is refused with the reason, and the running version goes on unchanged. The roster CSVs the
// running version names are watched too: a roster change (a student added mid-term) is recompiled and
// swapped in the same way, with one report line per changed roster.
import { unwatchFile, watchFile } from 'node:fs';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import { dirname, resolve } from 'node:path';
import { canonicalJson, compilePipelineFile, formatError } from '../compiler.js';
import { planChanges } from '../plan.js';
import type { Engine } from '../runtime.js';
import type { CompiledPipeline, StateStore } from '../types.js';
import { parseCsv } from '../roster.js';
import { formatPlan } from '../upgrade.js';

/** The roster files a pipeline names: roster name -> absolute path (relative paths resolve beside the pipeline). */
function rosterFilesOf(p: CompiledPipeline): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, def] of Object.entries<Record<string, any>>(p.spec.rosters ?? {})) {
    if (typeof def?.file === 'string') out.set(name, resolve(dirname(p.file), def.file));
  }
  return out;
}

/** A file's text, or null when it cannot be read (the compiler reports why). */
function readText(file: string): string | null {
  try {
    return readBoundedText(file, fileLimits.roster());
  } catch {
    return null;
  }
}

/** Members in a roster's text: its rows after the header. */
const memberCount = (text: string | null) => (text === null ? 0 : Math.max(0, parseCsv(text).length - 1));

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
  /** Roster file -> its text in the running version: what a change is compared with. */
  let running = new Map<string, string | null>();
  const texts = (files: Iterable<string>, known = new Map<string, string | null>()) => {
    const out = new Map<string, string | null>();
    for (const f of files) out.set(f, known.has(f) ? known.get(f)! : readText(f));
    return out;
  };
  /** One line per roster whose text differs from the running version's. */
  const rosterReport = (next: CompiledPipeline, read: Map<string, string | null>): string[] => {
    const out: string[] = [];
    for (const [name, f] of rosterFilesOf(next)) {
      const now = read.get(f) ?? null;
      if (running.has(f) && running.get(f) === now) continue;
      const was = running.has(f) ? `, was ${memberCount(running.get(f)!)}` : '';
      out.push(`loflow: watch: roster '${name}' ${running.has(f) ? 'reloaded' : 'added'} (${memberCount(now)} members${was}); connections and state kept`);
    }
    return out;
  };
  const reload = async () => {
    // Roster texts are read before compiling: one saved in between is newer in the compiled version, and
    // its own poll event reloads again, so no change is missed. A roster file the edit newly names is read
    // now and compiled again, for the same reason.
    let read = texts(rosterFilesOf(engine.pipeline).values());
    let { pipeline: next, errors } = await compilePipelineFile(file);
    if (next && !errors.length && [...rosterFilesOf(next).values()].some((f) => !read.has(f))) {
      read = texts(rosterFilesOf(next).values(), read);
      ({ pipeline: next, errors } = await compilePipelineFile(file));
    }
    if (!next || errors.length) {
      log([`loflow: watch: ${file} does not compile; the running version is kept`, ...errors.map((e) => `  ${formatError(e)}`)].join('\n'));
      return;
    }
    const current = engine.pipeline;
    const rosters = rosterReport(next, read);
    if (next.text === current.text && rosters.length === 0) return;
    const changes = next.text === current.text ? [] : planChanges(current, next);
    if (changes.length === 0 && rosters.length === 0) {
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
    running = new Map([...rosterFilesOf(next).values()].map((f) => [f, read.get(f) ?? null]));
    watchAll();
    if (next.text !== current.text) await store.saveLastPipeline?.(next.name, { file: next.file, text: next.text });
    if (changes.length) {
      log([`loflow: watch: applied live (${changes.length} change${changes.length === 1 ? '' : 's'}; connections and state kept)`, ...plan, ...rosters].join('\n'));
    } else log(rosters.join('\n'));
  };
  // Polling by path survives editors that save by writing a new file and renaming it over the old one.
  const onChange = (cur: { mtimeMs: number; size: number }, prev: { mtimeMs: number; size: number }) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
    chain = chain.then(reload).catch((err) => log(`loflow: watch: reload failed: ${(err as Error).message}; the running version is kept`));
  };
  /** The pipeline file and the running version's roster files; re-derived after each applied reload. */
  const watched = new Set<string>();
  const watchAll = () => {
    const want = new Set([file, ...running.keys()]);
    for (const f of [...watched]) {
      if (want.has(f)) continue;
      unwatchFile(f, onChange);
      watched.delete(f);
    }
    for (const f of want) {
      if (watched.has(f)) continue;
      watchFile(f, { interval: 250 }, onChange);
      watched.add(f);
    }
  };
  running = texts(rosterFilesOf(engine.pipeline).values());
  watchAll();
  return () => {
    for (const f of watched) unwatchFile(f, onChange);
    watched.clear();
  };
}
