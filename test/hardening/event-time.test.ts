// Hardening #17, finding 4: one event moved the event-time clock for everyone. `{"event":"v","ts":9e15}` from
// a student on no roster made every student of every class idle with 0 WPM, for good (the clock is the
// highest event time processed, committed with the store); `ts: 1e400` (JSON.parse: Infinity) too. Now ingest
// refuses non-finite and implausible times (dead-lettered, naming the field and the bound), and the clock
// itself advances at most to arrival (or now) + max_clock_skew, also for a clock restored from the store.
import { describe, expect, inject, it } from 'vitest';
import { compilePipeline, compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { CompiledPipeline } from '../../engine/types.js';
import { demoPipeline, demoServer, keystroke } from '../server/server-fixture.js';

const SKEW = 5 * 60_000;

/** Typing in both classes over the last minute: every student active, with a WPM. */
function typing(now: number) {
  const out = [];
  for (const user of ['s-0000', 's-0001', 's-0002', 's-0003']) for (let i = 0; i < 60; i++) out.push(keystroke(user, now - 60_000 + i * 1000));
  return out;
}

const views = (engine: Engine) => ['class-a', 'class-b'].map((c) => engine.aggregate('class_overview', c).rows.map((r) => ({ member: r.member, idle: r.idle, wpm: r.wpm })));

describe('event time', () => {
  it('a far-future ts (9e15) or Infinity (1e400) from a student on no roster is refused and moves no one’s clock', async () => {
    const s = await demoServer();
    try {
      const now = Date.now();
      expect((await s.post(JSON.stringify(typing(now)))).status).toBe(200);
      await s.engine.flush();
      const before = views(s.engine);
      const clock = s.engine.clock();
      // Every student active and typing before the outlier.
      for (const rows of before) for (const r of rows.filter((x) => ['s-0000', 's-0001', 's-0002', 's-0003'].includes(x.member))) {
        expect(r.idle).toBe(false);
        expect(r.wpm).toBeGreaterThan(0);
      }

      // Raw JSON: 1e400 parses to Infinity.
      for (const ts of ['9e15', '1e400']) {
        const r = await s.post(`[{"event":"v","ts":${ts},"auth":{"user_id":"nobody-on-a-roster"}}]`);
        expect(r.status).toBe(422);
        const body = (await r.json()) as { rejected: Array<{ index: number; reason: string }> };
        expect(body.rejected).toHaveLength(1);
        expect(body.rejected[0].reason).toMatch(ts === '9e15' ? /^ts 9000000000000000 is later than \S+Z \(arrival \+ max_clock_skew 5m\)$/ : /^ts must be a finite number of ms since the epoch, not Infinity$/);
      }
      await s.engine.flush();
      expect(s.engine.clock()).toBe(clock);
      expect(views(s.engine)).toEqual(before);
      const letters = await s.engine.deadLetters.list();
      expect(letters.map((l) => [l.stage, (l.event as { auth: { user_id: string } }).auth.user_id, l.reason.slice(0, 3)])).toEqual([
        ['ingest', 'nobody-on-a-roster', 'ts '],
        ['ingest', 'nobody-on-a-roster', 'ts '],
      ]);
      expect(s.engine.stats().rejected).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('an outlier that reaches processing (logged before the check) moves the clock at most to arrival + skew', async () => {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const sources = new Map([...pipeline!.sources].map(([n, src]) => [n, { ...src, checkTime: undefined }]));
    const engine = new Engine({ ...pipeline!, sources } as CompiledPipeline);
    const now = Date.now();
    await engine.ingest('batch', typing(now), now);
    await engine.flush();
    const clock = engine.clock();
    await engine.ingest('batch', [{ event: 'v', ts: 9e15, auth: { user_id: 'nobody-on-a-roster' } }], now);
    await engine.flush();
    // Not 9e15 (every learner idle with 0 WPM for good): at most the skew past arrival, which real time
    // catches up with. The outlier's own reducer state keeps its time (its views are its own).
    expect(engine.clock()).toBeGreaterThan(clock);
    expect(engine.clock()).toBeLessThanOrEqual(Date.now() + SKEW);
    expect(engine.view('events', 'nobody-on-a-roster')).toBe(1);
    await engine.stop();
  });

  it('a clock an outlier pushed far ahead before the upgrade is pulled back at restart', async () => {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const name = `clock${Date.now()}`;
    const p = { ...pipeline!, name } as CompiledPipeline;
    const store = await RedisStateStore.connect(inject('redisUrl'));
    await store.commit({ pipeline: name, writes: [], offset: 0, clock: 9e15 });
    const engine = new Engine(p, { store });
    await engine.start();
    expect(engine.clock()).toBeLessThanOrEqual(Date.now() + SKEW);
    expect(engine.clock()).toBeGreaterThan(Date.now());
    await engine.stop();
  });

  it('bounds are per source: max_clock_skew, min_event_time, and reducers’ time: paths', async () => {
    const text = `
pipeline: skew
sources:
  lenient: { kind: http, path: /a, schema: any, max_clock_skew: 1h, min_event_time: 2000-01-01 }
  strict:  { kind: http, path: /b, schema: any }
keys: { user: $.user }
reducers:
  n: { from: [lenient, strict], key: user, op: count }
  t: { from: [strict], key: user, op: count, time: $.client.time }
`;
    const { pipeline, errors } = await compilePipeline(text);
    expect(errors).toEqual([]);
    const engine = new Engine(pipeline!);
    const now = Date.now();
    const r1 = await engine.ingest('lenient', [{ user: 'a', ts: now + 30 * 60_000 }, { user: 'a', ts: 1.7e9 }, { user: 'a', ts: now }], now);
    expect(r1.accepted).toBe(2);
    expect(r1.rejected).toEqual([{ index: 1, reason: 'ts 1700000000 is earlier than 2000-01-01T00:00:00.000Z (min_event_time)' }]);
    const r2 = await engine.ingest('strict', [{ user: 'a', ts: now + 30 * 60_000 }, { user: 'a', client: { time: new Date(now + 86_400_000).toISOString() } }, { user: 'a', ts: -1 }, { user: 'a', ts: 1 }], now);
    expect(r2.rejected.map((x) => [x.index, x.reason.replace(/\d{4}-\S+Z/g, 'T')])).toEqual([
      [0, `ts ${now + 30 * 60_000} is later than T (arrival + max_clock_skew 5m)`],
      [1, `$.client.time ${new Date(now + 86_400_000).toISOString().replace(/\d{4}-\S+Z/g, 'T')} is later than T (arrival + max_clock_skew 5m)`],
      [2, 'ts -1 is earlier than T (min_event_time)'],
    ]);
    expect(r2.accepted).toBe(1);
    // A replay passes archived arrivals (long past): an event accepted live is accepted again.
    const r3 = await engine.ingest('strict', [{ user: 'b', ts: now - 86_400_000 + 60_000 }], now - 86_400_000);
    expect(r3.accepted).toBe(1);
    await engine.stop();

    const badSkew = await compilePipeline(text.replace('max_clock_skew: 1h', 'max_clock_skew: soon'));
    expect(badSkew.errors.map((e) => e.path)).toContain('sources.lenient.max_clock_skew');
    const badMin = await compilePipeline(text.replace('min_event_time: 2000-01-01', 'min_event_time: someday'));
    expect(badMin.errors.map((e) => [e.path, e.message])).toEqual([['sources.lenient.min_event_time', "'someday' is not a time: write a date (2000-01-01) or ms since the epoch"]]);
  });
});
