// The checks behind run/serve's refusal, --rebuild and --reset, in process on the memory store: changed
// reducers, readers of a changed reducer's stream, removed reducers, a rebuild from a partial archive, and a
// rebuild from a real archive of events that carry no event time (their archived arrival time counts).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArchiveWriter } from '../../archive/writer.js';
import { Classroom } from '../../engine/classroom.js';
import { compilePipeline } from '../../engine/compiler.js';
import { planChanges } from '../../engine/plan.js';
import { archivedEvents, rebuildFromArchive, type ArchivedEvent } from '../../engine/rebuild.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import type { Json, LoEvent, StateStore } from '../../engine/types.js';
import { checkStore, describeCheck, resetStale } from '../../engine/upgrade.js';

const demo = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');
const text = readFileSync(demo, 'utf8');
const compile = async (t: string) => (await compilePipeline(t, demo)).pipeline!;
// A longer pause ends a burst: `bursts` changes, and `burst_stats` reads what it emits.
const gapEdit = text.replace('params: { gap: 2s }', 'params: { gap: 3s }');
const events: LoEvent[] = [...new Classroom({ students: 12, seed: 5 }).events(3000)].map((e) => e.event);

async function runInto(store: StateStore, t: string, evs: LoEvent[]) {
  const engine = new Engine(await compile(t), { store });
  await engine.ingest('extension', evs);
  await engine.flush();
}

async function snapshot(store: StateStore, pipeline = 'writing-observer'): Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.version}/${ref.key}`] = state;
  return out;
}

async function* archived(evs: LoEvent[]): AsyncIterable<ArchivedEvent> {
  // The Classroom's events carry their own time (metadata.iso_ts): the arrival time does not matter to them.
  for (let i = 0; i < evs.length; i++) yield { stream: 'extension', event: evs[i], offset: i, at: 0 };
}

describe('state checks before an edited pipeline starts', () => {
  it('plan flags the readers of a changed reducer’s stream', async () => {
    const changes = planChanges(await compile(text), await compile(gapEdit));
    expect(changes.map((c) => [c.kind, c.path])).toEqual([
      ['state-breaking', 'reducers.bursts'],
      ['state-breaking', 'reducers.burst_stats'],
    ]);
    expect(changes[1].what).toBe("'burst_stats' reads 'burst', emitted by changed 'bursts': its state mixes old and new input, rebuild or reset it too");
  });

  it('finds changed reducers, their readers and removed reducers; --rebuild makes the store equal a fresh run', async () => {
    const store = new MemoryStateStore();
    await runInto(store, text, events);
    const edited = await compile(gapEdit.replace(/ {2}typing:[\s\S]*?op: words_per_minute\n(?: {4}time: .*\n)?/, '').replace('      wpm: typing.wpm\n', '').replace('      mean_wpm:        { op: mean, of: wpm }\n', ''));
    const check = await checkStore(store, edited);
    expect(check.breaking.map((b) => [b.reducer, b.keys, b.via?.reducer])).toEqual([
      ['burst_stats', 12, 'bursts'],
      ['bursts', 12, undefined],
    ]);
    // The reader's own version moved with its upstream's.
    const burstStats = check.breaking[0];
    expect(burstStats.current).toBe(edited.reducers.find((r) => r.name === 'burst_stats')!.version);
    expect(burstStats.version).not.toBe(burstStats.current);
    expect(check.removed.map((r) => [r.reducer, r.keys])).toEqual([['typing', 12]]);
    expect(describeCheck(check)).toContain(
      `state-breaking    'burst_stats': the store holds 12 keys of version ${burstStats.version}, this pipeline computes version ${burstStats.current} ` +
        "(they were built from 'burst' as changed 'bursts' emitted it before)  [dashboards: overview]",
    );

    const r = await rebuildFromArchive(store, edited, check.breaking, archived(events));
    expect(r).toMatchObject({ events: 3000, written: { bursts: 12, burst_stats: 12 }, dropped: 24 });
    const fresh = new MemoryStateStore();
    await runInto(fresh, edited.text, events);
    const got = await snapshot(store);
    for (const k of Object.keys(got)) if (k.startsWith('typing/')) delete got[k]; // removed: stale, kept
    expect(got).toEqual(await snapshot(fresh));
    expect((await checkStore(store, edited)).breaking).toEqual([]);
  });

  it('refuses a rebuild from an archive that misses committed events, touching nothing', async () => {
    const store = new MemoryStateStore();
    await runInto(store, text, events);
    const edited = await compile(gapEdit);
    const check = await checkStore(store, edited);
    const before = await snapshot(store);
    await expect(rebuildFromArchive(store, edited, check.breaking, archived(events.slice(0, 2000)))).rejects.toThrow(
      /the archive holds 2000 of the 3000 events the state store has committed: a rebuild from it would miss events\. Nothing was changed/,
    );
    expect(await snapshot(store)).toEqual(before);
  });

  it('--reset drops the changed reducers’ old state and the readers’ state', async () => {
    const store = new MemoryStateStore();
    await runInto(store, text, events);
    const edited = await compile(gapEdit);
    const lines = await resetStale(store, 'writing-observer', (await checkStore(store, edited)).breaking);
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^reset: dropped 12 states of 'burst_stats' version \\w+; it starts empty under version ${edited.reducers.find((r) => r.name === 'burst_stats')!.version}$`)),
      expect.stringMatching(/^reset: dropped 12 states of 'bursts' version \w+; it starts empty under version \w+$/),
    ]);
    const left = Object.keys(await snapshot(store));
    expect(left.some((k) => k.startsWith('burst'))).toBe(false);
    expect(left.filter((k) => k.startsWith('events/'))).toHaveLength(12);
  });

  it('--rebuild feeds archived events with their arrival time: equal to the live run for events without a time', async () => {
    // Events without `ts`: time_on_task times them by arrival. Batches arrive 1, 2, 4 and 5 minutes in.
    const arrivals = (idle: string) => `pipeline: arrivals
sources:
  batch: { kind: http, path: /v1/events, schema: lo-event }
keys:
  student: $.auth.user_id
reducers:
  active: { from: [batch], key: student, op: time_on_task, params: { idle_after: ${idle} } }
archive: { raw: true }
`;
    const batches = [60_000, 120_000, 240_000, 300_000].map((at) => ({ at, events: ['s1', 's2'].map((u) => ({ event: 'keystroke', auth: { user_id: u } })) }));
    const feed = async (engine: Engine) => {
      for (const b of batches) {
        await engine.ingest('batch', b.events, b.at);
        await engine.flush();
      }
    };
    const dir = join(mkdtempSync(join(tmpdir(), 'loflow-arrivals-')), 'archive');
    const v1 = await compile(arrivals('5m'));
    const store = new MemoryStateStore();
    const live = new Engine(v1, { store, archive: await ArchiveWriter.open(dir, { name: v1.name, text: v1.text, sources: v1.sources.keys() }) });
    await feed(live);
    await live.stop(); // commits the state and the archive

    // A shorter idle threshold: the 2-minute gap is idle now, the two 1-minute gaps count.
    const v2 = await compile(arrivals('90s'));
    const check = await checkStore(store, v2);
    expect(check.breaking.map((b) => b.reducer)).toEqual(['active']);
    await rebuildFromArchive(store, v2, check.breaking, await archivedEvents(dir, ['batch']));
    const fresh = new MemoryStateStore();
    const again = new Engine(v2, { store: fresh });
    await feed(again);
    await again.stop();
    const rebuilt = await snapshot(store, 'arrivals');
    expect(rebuilt).toEqual(await snapshot(fresh, 'arrivals'));
    expect(Object.values(rebuilt).map((s) => (s as { active_ms: number }).active_ms)).toEqual([120_000, 120_000]);
  });
});
