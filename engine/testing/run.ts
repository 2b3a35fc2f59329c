// Run one test through the real Engine with in-memory state, log and dead letters: commit the starting
// state, ingest the input in order, flush, then read what each expectation is about.
import { Engine } from '../runtime.js';
import { MemoryStateStore } from '../state/memory-store.js';
import type { CompiledPipeline, CompiledSource, DeadLetter, Json, LoEvent, StateRef } from '../types.js';
import { matchValue, MISSING, show, type Mismatch } from './match.js';
import { hasValue, type Expectation, type PipelineTest, type Position } from './model.js';

export interface Failure {
  at: Position;
  /** What was checked, e.g. `reducer 'events', key 's-0000': view`. */
  what: string;
  mismatches: Mismatch[];
  /** A failure that is not a value difference (no value recorded, an unexpected rejection, a crash). */
  message?: string;
}

/** One expectation's outcome, kept for `--update`. */
export interface Checked {
  expectation: Expectation;
  actual: unknown;
  ok: boolean;
}

/** An expectation `--update` would write for a test without any (plain values, in pipeline order). */
export type Recorded = Record<string, Json>;

export interface TestOutcome {
  test: PipelineTest;
  ok: boolean;
  /** The engine could not process the input (nothing was checked; the engine is left retrying). */
  crashed: boolean;
  failures: Failure[];
  checked: Checked[];
  /** What the test produced, as expectations: for tests with no `expect` (or `expect: record`). */
  snapshot: Recorded[];
}

/**
 * The pipeline as the test harness runs it: derived streams the test feeds directly become sources too
 * (their events then reach the consumers exactly as emitted events would).
 */
function harnessOf(pipeline: CompiledPipeline, test: PipelineTest): CompiledPipeline {
  const extra = test.input.map((i) => i.stream).filter((s) => !pipeline.sources.has(s));
  if (extra.length === 0) return pipeline;
  const sources = new Map(pipeline.sources);
  for (const name of extra) {
    const source: CompiledSource = {
      name,
      kind: 'test',
      schema: 'derived',
      validate: (e) => (e !== null && typeof e === 'object' && !Array.isArray(e) ? null : 'an event must be a JSON object'),
      options: {},
    };
    sources.set(name, source);
  }
  return { ...pipeline, sources };
}

/** Plain JSON, as a test file would hold it (no shared references, no undefined). */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

export async function runTest(pipeline: CompiledPipeline, test: PipelineTest): Promise<TestOutcome> {
  const store = new MemoryStateStore();
  const writes: Array<[StateRef, Json]> = [];
  const versions = new Map(pipeline.reducers.map((r) => [r.name, r.version]));
  for (const [reducer, keys] of Object.entries(test.state)) {
    for (const [key, state] of Object.entries(keys)) writes.push([{ pipeline: pipeline.name, reducer, version: versions.get(reducer)!, key }, structuredClone(state)]);
  }
  // Offset 0: the starting state is "already committed" before any input.
  if (writes.length) await store.commit({ pipeline: pipeline.name, writes, offset: 0 });

  const engine = new Engine(harnessOf(pipeline, test), { store });
  const emitted = new Map<string, LoEvent[]>();
  engine.on('emit', (stream: string, event: LoEvent) => {
    const list = emitted.get(stream) ?? [];
    list.push(plain(event) as LoEvent);
    emitted.set(stream, list);
  });
  const changedGroups = new Map<string, Set<string>>();
  engine.on('batch', (b: { changedGroups: Map<string, Set<string>> }) => {
    for (const [agg, groups] of b.changedGroups) for (const g of groups) (changedGroups.get(agg) ?? changedGroups.set(agg, new Set()).get(agg)!).add(g);
  });
  // A batch that cannot be processed at all (the engine retries it, as for a store outage): the test stops
  // there and reports it. (An operator's init, a key or a map that throws only dead-letters its events.)
  let crash: unknown = null;
  const crashed = new Promise<void>((resolve) => engine.once('retry', (err) => ((crash = err), resolve())));

  // Where each input event was written, to point at it when it is rejected unexpectedly.
  const origin = new Map<unknown, Position>();
  const outcome: TestOutcome = { test, ok: true, crashed: false, failures: [], checked: [], snapshot: [] };
  try {
    let placed = 0;
    for (const item of test.input) {
      const events = structuredClone(item.events);
      for (const e of events) if (e && typeof e === 'object') origin.set(e, item.at);
      // Arrival time 0: events without a `ts` happen at time 0, so every run is the same.
      const result = await Promise.race([engine.ingest(item.stream, events, 0), crashed]);
      if (crash || !result) break;
      // This call's schema rejections are the next ingest-stage dead letters (a non-object has no identity).
      if (result.rejected.length) {
        const ingestLetters = (await engine.deadLetters.list()).filter((l) => l.stage === 'ingest');
        for (const l of ingestLetters.slice(placed, placed + result.rejected.length)) origin.set(l, item.at);
        placed += result.rejected.length;
      }
    }
    if (!crash) await Promise.race([engine.flush(), crashed]);
  } catch (err) {
    crash = err;
  }
  if (crash) {
    outcome.ok = false;
    outcome.crashed = true;
    outcome.failures.push({ at: test.at, what: 'the pipeline', mismatches: [], message: `could not process the input: ${(crash as Error).message ?? crash}` });
    engine.abort(); // it would retry that batch forever
    return outcome;
  }

  const letters = await engine.deadLetters.list();
  const unmatched = new Set(letters);
  const expectations = Array.isArray(test.expect) ? test.expect : [];
  // Rejections first: they claim their dead letters, the rest are unexpected.
  for (const x of expectations) {
    if (x.kind !== 'rejected') continue;
    const letter = [...unmatched].find((l) => rejectionMatches(x, l));
    outcome.checked.push({ expectation: x, actual: letter, ok: !!letter });
    if (letter) unmatched.delete(letter);
    else {
      const all = letters.map((l) => `[${l.stage}] ${l.reason}`);
      outcome.failures.push({
        at: x.at,
        what: `rejected (reason containing ${JSON.stringify(x.reason)}${x.stream ? `, stream '${x.stream}'` : ''}${x.stage ? `, stage '${x.stage}'` : ''})`,
        mismatches: [],
        message: all.length ? `no dead letter matches; the dead letters are:\n${all.map((s) => `  ${s}`).join('\n')}` : 'nothing was rejected',
      });
    }
  }
  for (const x of expectations) {
    if (x.kind === 'rejected') continue;
    const actual = await observe(engine, pipeline, x, emitted);
    const what = describe(x);
    if (!hasValue(x)) {
      outcome.checked.push({ expectation: x, actual, ok: false });
      outcome.failures.push({ at: x.at, what, mismatches: [], message: `no expected value: \`loflow test --update\` records it (actual: ${show(actual)})` });
      continue;
    }
    const mismatches =
      x.field === 'absent'
        ? actual === undefined
          ? []
          : [{ path: '', expected: MISSING, actual, note: 'expected no state for this key' }]
        : actual === undefined
          ? [{ path: '', expected: x.value, actual: MISSING, note: x.kind === 'reducer' ? 'no state for this key' : undefined }]
          : matchValue(x.value, actual, x.opts);
    outcome.checked.push({ expectation: x, actual, ok: mismatches.length === 0 });
    if (mismatches.length) outcome.failures.push({ at: x.at, what, mismatches });
  }
  for (const l of unmatched) {
    outcome.failures.push({
      at: origin.get(l) ?? origin.get(l.event) ?? test.at,
      what: `input on '${l.stream}'`,
      mismatches: [],
      message: `unexpected rejection [${l.stage}]: ${l.reason} (expect it with \`rejected: { reason: ... }\` if it is meant)`,
    });
  }
  if (!Array.isArray(test.expect)) outcome.snapshot = await snapshot(engine, pipeline, emitted, changedGroups, letters);
  if (!Array.isArray(test.expect)) {
    outcome.failures.push({ at: test.at, what: `test '${test.name}'`, mismatches: [], message: 'no expectations: `loflow test --update` records what the pipeline produces' });
  }
  outcome.ok = outcome.failures.length === 0;
  await engine.stop();
  return outcome;
}

function rejectionMatches(x: Extract<Expectation, { kind: 'rejected' }>, l: DeadLetter): boolean {
  if (!l.reason.includes(x.reason)) return false;
  if (x.stream !== undefined && !l.stream.split(',').includes(x.stream)) return false;
  if (x.stage !== undefined && l.stage !== x.stage) return false;
  if (x.event !== undefined && matchValue(x.event, l.event, { mode: 'subset', arrays: 'exact' }).length) return false;
  return true;
}

export function describe(x: Expectation): string {
  switch (x.kind) {
    case 'reducer':
      return `reducer '${x.reducer}', key '${x.key}': ${x.field}`;
    case 'emitted':
      return `reducer '${x.reducer}'${x.key !== undefined ? `, key '${x.key}'` : ''}: emitted events`;
    case 'aggregation':
      return `aggregation '${x.aggregation}', group '${x.group}'${x.member !== undefined ? `, member '${x.member}'` : ''}: ${x.field}`;
    case 'rejected':
      return 'rejected';
  }
}

/** The actual value an expectation is about (undefined: there is none). */
async function observe(engine: Engine, pipeline: CompiledPipeline, x: Expectation, emitted: Map<string, LoEvent[]>): Promise<unknown> {
  switch (x.kind) {
    case 'reducer': {
      const r = pipeline.reducers.find((y) => y.name === x.reducer)!;
      const [state] = await engine.store.load([{ pipeline: pipeline.name, reducer: r.name, version: r.version, key: x.key }]);
      if (state === undefined) return undefined;
      if (x.field === 'state') return plain(state);
      // A key the input never touched (only a starting state) is not in the engine's working set.
      const view = engine.view(r.name, x.key) ?? (r.op.view ? r.op.view(state, r.params, engine.clock()) : state);
      return plain(view);
    }
    case 'emitted': {
      const r = pipeline.reducers.find((y) => y.name === x.reducer)!;
      const events = emitted.get(r.emit!) ?? [];
      return x.key === undefined ? events : events.filter((e) => r.key.extract(e) === x.key);
    }
    case 'aggregation': {
      // As a dashboard does: the class's stored states (a test's starting state) join its working set.
      await engine.ensureLoaded(x.aggregation, x.group);
      const result = engine.aggregate(x.aggregation, x.group);
      if (x.field === 'summary') return plain(result.summary);
      if (x.field === 'rows') return plain(result.rows);
      return plain(result.rows.find((row) => row.member === x.member));
    }
    case 'rejected':
      return undefined;
  }
}

/** Everything a test touched, as expectations: reducer views, emitted events, aggregations, rejections. */
async function snapshot(
  engine: Engine,
  pipeline: CompiledPipeline,
  emitted: Map<string, LoEvent[]>,
  changedGroups: Map<string, Set<string>>,
  letters: DeadLetter[],
): Promise<Recorded[]> {
  const out: Recorded[] = [];
  for (const r of pipeline.reducers) {
    for (const key of engine.keys(r.name).sort()) out.push({ reducer: r.name, key, view: plain(engine.view(r.name, key)) as Json });
  }
  for (const r of pipeline.reducers) {
    const events = r.emit ? emitted.get(r.emit) : undefined;
    if (events?.length) out.push({ reducer: r.name, emitted: events as Json });
  }
  for (const [name, groups] of changedGroups) {
    for (const group of [...groups].sort()) out.push({ aggregation: name, group, summary: plain(engine.aggregate(name, group).summary) as Json });
  }
  for (const l of letters) out.push({ rejected: { reason: l.reason, stage: l.stage } });
  return out;
}
