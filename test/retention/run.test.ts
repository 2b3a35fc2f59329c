// What a retention pass never removes (events not yet archived, a log the in-memory states are rebuilt
// from), states past their last day (dropped only when no server holds them), and serve's daily schedule
// on an injected clock.
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArchiveWriter } from '../../archive/writer.js';
import { compilePipeline } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { FileInputLog } from '../../engine/log/file-log.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { runRetention } from '../../engine/retention/run.js';
import { scheduleRetention } from '../../engine/retention/schedule.js';
import { dropExpiredStatesAtStart } from '../../engine/retention/serve-retention.js';
import type { CompiledPipeline } from '../../engine/types.js';

const root = join(import.meta.dirname, '../..');
const demoFile = join(root, 'pipelines/writing-observer.yaml');
const NOV = Date.parse('2026-11-10T09:00:00Z');
const LATER = Date.parse('2027-03-05T00:00:00Z');
const ev = (i: number) => ({ event: 'visibility', auth: { user_id: `s-000${i % 4}` }, n: i });

async function pipelineWith(retention: string, name = `ret${Date.now()}${Math.random().toString(36).slice(2, 6)}`): Promise<CompiledPipeline> {
  const text = readFileSync(demoFile, 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`).replace('commit_every: 10s', 'commit_every: 1h');
  const { pipeline, errors } = await compilePipeline(`${text}\nretention: ${retention}\n`, demoFile);
  if (!pipeline) throw new Error(errors.map((e) => e.message).join('\n'));
  return pipeline;
}

describe('retention never removes what is still needed', () => {
  it('keeps applied events the archive has not committed yet, then removes them once it has', async () => {
    const p = await pipelineWith('{ raw: 90d }');
    const dir = mkdtempSync(join(tmpdir(), 'loflow-ret-run-'));
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const log = new FileInputLog(join(dir, 'log'));
    const writer = await ArchiveWriter.open(join(dir, 'archive'), { name: p.name, text: p.text, sources: p.sources.keys() });
    const engine = new Engine(p, { store, log, archive: writer });
    await engine.start();
    await engine.ingest('batch', Array.from({ length: 20 }, (_, i) => ev(i)), NOV);
    await engine.flush();
    const ctx = { pipeline: p, now: LATER, store, log: { kind: 'file' as const, dir: join(dir, 'log') }, archiveDir: join(dir, 'archive') };
    let r = await runRetention(ctx);
    expect(r.items[0]).toMatchObject({ what: 'raw', removed: 0 });
    expect(r.items[0].detail).toMatch(/applied below offset 20, archived below 0\); 20 expired events kept until applied and archived/);
    await writer.commit();
    r = await runRetention(ctx);
    expect(r.items[0]).toMatchObject({ what: 'raw', removed: 20 });
    await engine.stop();
  });

  it('leaves a durable log alone when the states are in memory (they are rebuilt from it at start)', async () => {
    const p = await pipelineWith('{ raw: 90d }');
    const dir = mkdtempSync(join(tmpdir(), 'loflow-ret-mem-'));
    const log = new FileInputLog(join(dir, 'log'));
    await log.append([{ stream: 'batch', event: ev(1), at: NOV }]);
    const r = await runRetention({ pipeline: p, now: LATER, store: new MemoryStateStore(), log: { kind: 'file', dir: join(dir, 'log') } });
    expect(r.items[0]).toMatchObject({ what: 'raw', removed: 0 });
    expect(r.items[0].detail).toMatch(/state store is in memory and rebuilt from that log at start/);
    expect((await log.read(0, 10)).length).toBe(1);
    await log.close();
  });
});

describe('states: until', () => {
  it('drops every state once the day has passed, not while a server holds the pipeline', async () => {
    const p = await pipelineWith('{ states: { until: 2027-01-31 } }');
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const engine = new Engine(p, { store });
    await engine.start();
    await engine.ingest('batch', Array.from({ length: 8 }, (_, i) => ev(i)), NOV);
    await engine.flush();
    const count = async () => {
      let n = 0;
      for await (const _ of store.scan(p.name)) n++;
      return n;
    };
    const n = await count();
    expect(n).toBeGreaterThan(0);
    const early = await runRetention({ pipeline: p, now: Date.parse('2027-01-31T20:00:00Z'), store });
    expect(early.items).toEqual([{ what: 'states', removed: 0, detail: 'states kept until 2027-01-31 (inclusive)' }]);
    const live = await runRetention({ pipeline: p, now: LATER, store });
    expect(live.items[0].detail).toMatch(/not dropped, a server of '.*' is running \(it holds the lease\)/);
    const daily = await runRetention({ pipeline: p, now: LATER, store, dropStates: false });
    expect(daily.items[0].detail).toMatch(/a running server does not drop them/);
    expect(await count()).toBe(n);
    await engine.stop(); // releases the lease and closes the store
    // As serve does before its engine starts.
    const again = await RedisStateStore.connect(inject('redisUrl'));
    const lines = await dropExpiredStatesAtStart({ pipeline: p, store: again, now: () => LATER });
    expect(lines.join('\n')).toMatch(new RegExp(`states: removed ${n}: states past 2027-01-31`));
    let left = 0;
    for await (const _ of again.scan(p.name)) left++;
    expect(left).toBe(0);
    await again.close();
  });
});

describe("serve's schedule", () => {
  it('runs a pass at start and then every period, on the injected clock, until stopped', async () => {
    const seen: number[] = [];
    let clock = Date.parse('2027-01-01T00:00:00Z');
    const p = await pipelineWith('{ dead_letters: 30d }');
    let passes = 0;
    const schedule = scheduleRetention({
      now: () => clock,
      everyMs: 20,
      run: async (now) => {
        passes++;
        clock += 86_400_000; // each pass a day later
        return runRetention({ pipeline: p, now, store: new MemoryStateStore() });
      },
      onReport: (r) => seen.push(r.now),
    });
    for (let i = 0; i < 500 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    schedule.stop();
    await schedule.idle();
    const stoppedAt = passes;
    await new Promise((r) => setTimeout(r, 100));
    expect(passes).toBe(stoppedAt);
    expect(seen.slice(0, 3)).toEqual([0, 1, 2].map((d) => Date.parse('2027-01-01T00:00:00Z') + d * 86_400_000));
  });
});
