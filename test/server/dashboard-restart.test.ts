// A restarted server on a persistent state store shows every rostered student on the dashboards (JSON, SSE
// and WebSocket), as before the restart, before any new event arrives: a class's states are read from the
// store when it is first watched, in one batched read per class.
import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { WebSocket } from 'ws';
import { pino } from 'pino';
import { Classroom, clientTime } from '../../engine/classroom.js';
import { compilePipeline } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { startServer } from '../../engine/server/index.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { Json, StateRef, StateStore } from '../../engine/types.js';
import { demoPipeline, keystroke } from './server-fixture.js';

const tokens = { 'tok-ada': 't-ada', 'tok-bo': 't-bo' };

/** The demo pipeline under a name of its own: tests share one Redis. */
async function demo(name: string) {
  const text = readFileSync(demoPipeline, 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
  return (await compilePipeline(text, demoPipeline)).pipeline!;
}

/** A real Redis store whose reads are counted (what a dashboard costs the store). */
class CountingStore {
  loads = 0;
  indexReads = 0;
  constructor(readonly inner: RedisStateStore) {}
  wrap(): StateStore {
    const self = this;
    return Object.assign(Object.create(this.inner) as RedisStateStore, {
      load(refs: readonly StateRef[]): Promise<Array<Json | undefined>> {
        self.loads++;
        return self.inner.load(refs);
      },
      keysWithPart(pipeline: string, q: ReadonlyArray<{ reducer: string; version: string; part: string }>) {
        self.indexReads++;
        return self.inner.keysWithPart(pipeline, q);
      },
    });
  }
}

async function serve(name: string, store: StateStore) {
  const pipeline = await demo(name);
  const engine = new Engine(pipeline, { store });
  await engine.start();
  const s = await startServer({ pipeline, engine, port: 0, auth: { teacherTokens: tokens }, logger: silent() });
  const get = async (path: string) => {
    const res = await fetch(`${s.url}${path}`, { headers: { authorization: 'Bearer tok-ada' } });
    return { status: res.status, body: await res.json() };
  };
  return {
    ...s,
    engine,
    get,
    async close() {
      await s.stop();
      await engine.stop();
    },
  };
}

const silent = () => pino({ level: 'silent' });

/** The first message of a dashboard's WebSocket. */
function wsFirst(url: string, path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}${path}?token=tok-ada`);
    ws.once('message', (m) => {
      resolve(JSON.parse(String(m)));
      ws.close();
    });
    ws.once('error', reject);
  });
}

/** The first message of a dashboard's SSE stream. */
async function sseFirst(url: string, path: string): Promise<any> {
  const ctrl = new AbortController();
  const res = await fetch(`${url}${path}?token=tok-ada`, { signal: ctrl.signal });
  const reader = res.body!.getReader();
  let buf = '';
  while (!buf.includes('\n\n')) buf += new TextDecoder().decode((await reader.read()).value);
  ctrl.abort();
  return JSON.parse(buf.slice('data: '.length, buf.indexOf('\n\n')));
}

const table = ({ rows, summary }: { rows: unknown; summary: unknown }) => ({ rows, summary });

describe('dashboards after a restart (Redis state)', () => {
  it.each([
    ['redis', 'redisUrl'],
    ['a redis cluster', 'redisClusterUrl'],
  ] as const)('show every student of a class as before the restart, over JSON, WebSocket and SSE (%s)', async (_label, url) => {
    const name = `dash${Math.random().toString(36).slice(2, 8)}`;
    // 40 students (10 a class), several documents each: counts, windows, stats and per-document text.
    const events = [...new Classroom({ students: 40, seed: 11, documents: 3 }).events(6000)].map((e) => e.event);
    const first = await serve(name, await RedisStateStore.connect(inject(url)));
    const before = new Map<string, any>();
    try {
      for (let i = 0; i < events.length; i += 500) await first.engine.ingest('extension', events.slice(i, i + 500));
      await first.engine.flush();
      for (const c of ['class-a', 'class-b']) {
        const r = await first.get(`/v1/dashboards/overview/${c}`);
        expect(r.status).toBe(200);
        before.set(c, r.body);
      }
    } finally {
      await first.close();
    }
    // The data is there to be lost: every student of class-a has a row with events and a text length.
    const a = before.get('class-a');
    expect(a.rows).toHaveLength(50);
    expect(a.rows.filter((r: any) => r.events > 0 && r.text_length > 0)).toHaveLength(10);

    const counting = new CountingStore(await RedisStateStore.connect(inject(url)));
    const second = await serve(name, counting.wrap());
    try {
      expect(second.engine.keys('events')).toEqual([]); // nothing loaded at startup
      // WebSocket first: the class is loaded for the subscriber's snapshot.
      const ws = await wsFirst(second.url, '/v1/dashboards/overview/class-a/live');
      expect(ws.type).toBe('snapshot');
      expect(table(ws)).toEqual(table(a));
      // One index read (documents per student) and one state read for the class; the JSON route then
      // reads nothing more.
      expect({ loads: counting.loads, indexReads: counting.indexReads }).toEqual({ loads: 1, indexReads: 1 });
      expect((await second.get('/v1/dashboards/overview/class-a')).body).toEqual(a);
      expect({ loads: counting.loads, indexReads: counting.indexReads }).toEqual({ loads: 1, indexReads: 1 });
      // A student's documents came back (the text column shows the latest, as before).
      const docs = second.engine.keys('text').map((k) => k.split('|')[0]);
      expect(docs.length).toBeGreaterThan(new Set(docs).size);
      // Only the watched class is in memory.
      expect(second.engine.keys('events').sort()).toEqual(a.rows.filter((r: any) => r.events !== undefined).map((r: any) => r.member).sort());

      // SSE on another class: loaded on its own, when it is watched.
      const sse = await sseFirst(second.url, '/v1/dashboards/overview/class-b/events');
      expect(sse.type).toBe('snapshot');
      expect(table(sse)).toEqual(table(before.get('class-b')));
      expect((await second.get('/v1/dashboards/overview/class-b')).body).toEqual(before.get('class-b'));
      expect({ loads: counting.loads, indexReads: counting.indexReads }).toEqual({ loads: 2, indexReads: 2 });

      // New events continue from the stored states.
      const s0 = a.rows.find((r: any) => r.member === 's-0000');
      await second.engine.ingest('batch', [keystroke('s-0000', clientTime(events.at(-1)!)! + 1)]);
      await second.engine.flush();
      const after = (await second.get('/v1/dashboards/overview/class-a')).body;
      expect(after.rows.find((r: any) => r.member === 's-0000').events).toBe(s0.events + 1);
    } finally {
      await second.close();
    }
  });

  it('a class watched while a batch for it runs shows the batch on top of the stored state, counted once', async () => {
    const name = `dash${Math.random().toString(36).slice(2, 8)}`;
    const first = await serve(name, await RedisStateStore.connect(inject('redisUrl')));
    try {
      await first.engine.ingest('batch', [keystroke('s-0000', 1), keystroke('s-0000', 2), keystroke('s-0004', 3)]);
      await first.engine.flush();
    } finally {
      await first.close();
    }
    const second = await serve(name, await RedisStateStore.connect(inject('redisUrl')));
    try {
      // The load and a batch touching the same student race for the engine: whichever goes first, the
      // other sees its result (the batch lock), and the stored state is neither lost nor applied twice.
      const [, snap] = await Promise.all([
        second.engine.ingest('batch', [keystroke('s-0000', 4)]),
        second.get('/v1/dashboards/overview/class-a'),
      ]);
      expect([2, 3]).toContain(snap.body.rows.find((r: any) => r.member === 's-0000').events);
      await second.engine.flush();
      const rows = (await second.get('/v1/dashboards/overview/class-a')).body.rows;
      expect(rows.find((r: any) => r.member === 's-0000').events).toBe(3);
      expect(rows.find((r: any) => r.member === 's-0004').events).toBe(1);
      expect(rows.find((r: any) => r.member === 's-0008').events).toBeUndefined(); // no state: no value
    } finally {
      await second.close();
    }
  });
});

describe('dashboards on the memory store', () => {
  it('are the working set, unchanged: a dashboard adds no state for students who sent nothing', async () => {
    const pipeline = await demo('dash-memory');
    const engine = new Engine(pipeline);
    await engine.start();
    const s = await startServer({ pipeline, engine, port: 0, auth: { teacherTokens: tokens }, logger: silent() });
    try {
      await engine.ingest('batch', [keystroke('s-0000', 1), keystroke('s-0004', 2)]);
      await engine.flush();
      const expected = engine.aggregate('class_overview', 'class-a');
      const res = await fetch(`${s.url}/v1/dashboards/overview/class-a`, { headers: { authorization: 'Bearer tok-ada' } });
      expect(await res.json()).toEqual(JSON.parse(JSON.stringify(expected)));
      expect(engine.keys('events').sort()).toEqual(['s-0000', 's-0004']);
      expect(expected.rows.filter((r) => r.events !== undefined)).toHaveLength(2);
    } finally {
      await s.stop();
      await engine.stop();
    }
  });
});
