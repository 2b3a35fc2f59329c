// `loflow erase` in a running engine on the embedded stores (memory states, file log, file dead letters):
// every place is shown to hold the student before and nothing of them after, the class aggregate equals a
// run that never saw them, a restart replaying the log does not bring them back, and a second erasure
// finds nothing. The served, Redis + Postgres + archive version is erase-serve.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { FileDeadLetterStore } from '../../engine/deadletter/file-deadletter.js';
import { FileInputLog } from '../../engine/log/file-log.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import type { CompiledPipeline } from '../../engine/types.js';
import { aliasPipeline } from '../server/alias-fixture.js';
import { classroomEvents, ERASED, filesContaining, SENTENCE } from './classroom-fixture.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'loflow-erase-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function pipeline(): Promise<CompiledPipeline> {
  const r = await compilePipelineFile(join(import.meta.dirname, '../../pipelines/writing-observer.yaml'));
  if (!r.pipeline) throw new Error(JSON.stringify(r.errors));
  // The archive is erase-serve.test.ts's: here the places an engine keeps without one.
  return { ...r.pipeline, archive: undefined };
}

const record = { type: 'loflow/erasure', by: 'test' };

describe('erase in a running engine (memory store, file log, file dead letters)', () => {
  it('removes the student from states, cache, log and dead letters; aggregates equal a run without them; idempotent', async () => {
    const p = await pipeline();
    const ev = classroomEvents();
    const dir = tmp();
    const open = () => new Engine(p, { store: new MemoryStateStore(), log: new FileInputLog(join(dir, 'log'), 200), deadLetters: new FileDeadLetterStore(join(dir, 'dl.ndjson')) });
    const engine = open();
    await engine.start();
    await engine.ingest('batch', [...ev.all, ev.invalid]);
    await engine.flush();
    // Before: the student is in every place (else the test would prove nothing).
    expect(engine.keys('events')).toContain(ERASED);
    expect(engine.keys('text').some((k) => k.startsWith(`${ERASED}|`))).toBe(true);
    expect(filesContaining(dir, [ERASED, SENTENCE]).length).toBeGreaterThan(2);
    expect(await engine.deadLetters.count()).toBe(1);

    const dry = await engine.erase(ERASED, { dryRun: true, record });
    expect(dry.counts['states (memory)']).toBeGreaterThan(0);
    expect(dry.counts['input log events (file)']).toBe(ev.all.length - ev.without.length);
    expect(dry.counts['dead letters']).toBe(1);
    expect(engine.keys('events')).toContain(ERASED); // a dry run changes nothing

    const done = await engine.erase(ERASED, { dryRun: false, record });
    expect(done.counts).toEqual(dry.counts);
    expect(done.remaining).toEqual([]);
    for (const r of p.reducers) expect(engine.keys(r.name).filter((k) => k.split('|').includes(ERASED))).toEqual([]);
    for (const r of p.reducers) expect(engine.keys(r.name).length).toBeGreaterThan(0); // the others stay
    expect(filesContaining(dir, [ERASED, SENTENCE])).toEqual([]);
    expect(await engine.deadLetters.count()).toBe(0);

    // The engine goes on: later events of others are processed as before.
    await engine.ingest('batch', ev.after);
    await engine.flush();
    const again = await engine.erase(ERASED, { dryRun: false, record });
    expect(Object.values(again.counts).every((n) => n === 0)).toBe(true);

    // A run that never saw the student: the same class aggregate (member states are read at query time).
    const ref = new Engine(p);
    await ref.start();
    await ref.ingest('batch', [...ev.without, ...ev.after]);
    await ref.flush();
    expect(engine.aggregate('class_overview', 'class-b')).toEqual(ref.aggregate('class_overview', 'class-b'));
    expect(engine.results().reducers).toEqual(ref.results().reducers);
    const want = ref.results();
    await engine.stop();
    await ref.stop();

    // A restart rebuilds the memory store from the file log: the tombstones keep the student out.
    const restarted = open();
    await restarted.start();
    await restarted.flush();
    expect(restarted.results().reducers).toEqual(want.reducers);
    expect(restarted.aggregate('class_overview', 'class-b')).toEqual(want.aggregations.class_overview['class-b']);
    await restarted.stop();
  }, 120_000);

  it('a student named by a roster alias (Google id, email) in some events is erased from those too', async () => {
    const { pipeline: aliased } = await aliasPipeline();
    const p = { ...aliased!, archive: undefined };
    const dir = tmp();
    const engine = new Engine(p, { store: new MemoryStateStore(), log: new FileInputLog(join(dir, 'log'), 200), deadLetters: new FileDeadLetterStore(join(dir, 'dl.ndjson')) });
    await engine.start();
    const ev = (user: string, ts: number) => ({ event: 'keystroke', ts, auth: { user_id: user }, doc_id: 'd1', keystroke: { type: 'keydown', key: 'a' } });
    await engine.ingest('batch', [ev('gc-104729', 1), ev('Ada@School.org', 2), ev('s-0001', 3), ev('s-0002', 4)]);
    await engine.flush();
    expect(engine.view('events', 's-0001')).toBe(3);
    expect(filesContaining(dir, ['104729', 'Ada@School.org']).length).toBeGreaterThan(0);
    const done = await engine.erase('s-0001', { dryRun: false, record });
    expect(done.counts['input log events (file)']).toBe(3);
    expect(filesContaining(dir, ['104729', 'Ada@School.org', 's-0001'])).toEqual([]);
    expect(engine.keys('events')).toEqual(['s-0002']);
    await engine.stop();
  }, 60_000);
});
