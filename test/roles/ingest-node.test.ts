// `serve --role ingest` (issue #12 point 2, docs/scale-out.md §4, §11 T5): a stateless ingest node in front
// of a `--role all --checkpoint redis` process on one real redis-server. What the node acknowledges is
// exactly what the worker applies (states equal an in-process run over the same events); a producer's
// re-send is dropped by ingest.lua; hostile input is refused as the single process refuses it; with Redis
// frozen the node answers 503 + Retry-After in bounded time and acknowledges nothing; a node killed
// mid-request leaves the client's retry (same producer id, another node) counted once.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { startRedis, type RunningRedis } from '../../bench/servers.js';
import { partitionOf } from '../../engine/partition.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { classroomEvents, demoCopy, uniqueName } from '../cli/cluster-fixture.js';
import { deepEventText, keystroke } from '../hardening/helpers.js';
import { serveChild, until, type ServeChild } from '../hardening/serve-child.js';
import { post, producerHeaders, redisSnapshot, referenceStates } from './role-fixture.js';

const none = ['--durability', 'none'];
const caughtUp = (s: ServeChild, n: number) =>
  until(async () => {
    const h = (await (await fetch(`${s.url}/healthz`)).json()) as { committed_offset: number; log_end: number };
    return h.committed_offset === n && h.log_end === n;
  }, 60_000);

describe('serve --role ingest', () => {
  let redis: RunningRedis;
  let client: Redis;
  const children: ServeChild[] = [];
  const start = async (args: string[], file: string) => {
    const c = await serveChild(args, {}, file);
    children.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.port, '127.0.0.1');
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    client?.disconnect();
    await redis?.stop();
  });

  it('appends what it acknowledges, drops a re-send, and the worker applies exactly that (states equal one process)', async () => {
    const name = uniqueName('ingest');
    const file = demoCopy(name);
    const worker = await start(['--state', redis.url, '--checkpoint', 'redis', ...none], file);
    const ingest = await start(['--role', 'ingest', '--state', redis.url, ...none], file);
    const events = classroomEvents(700);
    for (let b = 0; b < 6; b++) {
      const r = await post(ingest.url, JSON.stringify(events.slice(b * 100, b * 100 + 100)), producerHeaders('p-1', b * 100));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ accepted: 100, duplicates: 0 });
    }
    // A lost answer: the client sends batch 2 again, with the same producer and sequence.
    const again = await post(ingest.url, JSON.stringify(events.slice(200, 300)), producerHeaders('p-1', 200));
    expect(again.body).toMatchObject({ accepted: 100, duplicates: 100 });
    // The worker's own ingest interleaves with the node's appends in one stream.
    expect((await post(worker.url, JSON.stringify(events.slice(600)))).status).toBe(200);
    await caughtUp(worker, 700);
    expect(await client.xlen(`lf:{${name}}:in`)).toBe(700);
    expect(await redisSnapshot(redis.url, name)).toEqual(await referenceStates(file, events));
    // The node's metrics count what it accepted; it holds no states.
    expect(await ingest.metrics()).toMatch(/loflow_events_in_total\{source="batch"\} 700/);
  }, 180_000);

  it('refuses hostile input exactly as the single process does: same status, same reasons, dead letters, still alive', async () => {
    const name = uniqueName('ingesthostile');
    const file = demoCopy(name);
    const single = await start([], file);
    const ingest = await start(['--role', 'ingest', '--state', redis.url, ...none], file);
    const now = Date.now();
    const bodies: Array<[string, string]> = [
      ['not JSON', 'this is not json'],
      ['broken array', '[{"event":"keystroke"'],
      ['array of non-events', '[1, "two", null, {"no":"event"}]'],
      ['an event from the future', JSON.stringify([keystroke('s-0001', now + 365 * 86_400_000)])],
      ['5,000 levels deep', `[${deepEventText('s-0001', now)}]`],
      ['NDJSON with a bad line', `${JSON.stringify(keystroke('s-0002', now))}\n{oops\n`],
      ['too many events', JSON.stringify(Array.from({ length: 10_001 }, () => keystroke('s-0003', now)))],
      ['over the body limit', `[${'"x",'.repeat(1_400_000)}"x"]`],
      ['__proto__ keys', '[{"event":"keystroke","ts":1,"auth":{"user_id":"s-0004","__proto__":{"x":1}},"constructor":{"prototype":{"y":2}}}]'],
    ];
    for (const [what, body] of bodies) {
      const [a, b] = await Promise.all([post(single.url, body), post(ingest.url, body)]);
      // Reasons may name the arrival time (event time checks): equal up to the clock.
      const same = (x: unknown) => JSON.parse(JSON.stringify(x).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>'));
      expect({ what, status: b.status, body: same(b.body) }).toEqual({ what, status: a.status, body: same(a.body) });
      expect(b.status, what).toBeGreaterThanOrEqual(200);
    }
    await until(() => ingest.deadLetters().length >= 1 && ingest.deadLetters().length === single.deadLetters().length, 20_000);
    const reasons = (s: ServeChild) => s.deadLetters().map((l) => String(l.reason).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>'));
    expect(reasons(ingest)).toEqual(reasons(single));
    expect(ingest.alive()).toBe(true);
    // A role node refuses what it does not serve: dashboards are a dashboard node's.
    expect((await fetch(`${ingest.url}/v1/dashboards/overview/class-a?token=demo-t-ada`)).status).toBe(404);
  }, 180_000);

  it('WebSocket (/wsapi/in): the same answers as the single process, and its accepted events reach the Redis stream', async () => {
    const name = uniqueName('ingestws');
    const file = demoCopy(name);
    const single = await start([], file);
    const ingest = await start(['--role', 'ingest', '--state', redis.url, ...none], file);
    const now = Date.now();
    const frames = [
      JSON.stringify({ event: 'lock_fields', fields: { user_id: 's-0005' } }),
      deepEventText('s-0005', now),
      `[${'['.repeat(5000)}${']'.repeat(5000)}]`,
      'not json at all',
      ...Array.from({ length: 30 }, (_, i) => JSON.stringify({ event: 'keystroke', ts: now + i, keystroke: { key: 'a' } })),
    ];
    const talk = async (url: string) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/wsapi/in/`);
      const got: unknown[] = [];
      ws.on('message', (d) => got.push(JSON.parse(d.toString())));
      await new Promise((r, j) => (ws.on('open', r), ws.on('error', j)));
      for (const f of frames) ws.send(f);
      await until(() => got.length >= 4, 20_000);
      await new Promise((r) => setTimeout(r, 500)); // no further answer is due: the rest are accepted silently
      ws.close();
      return got;
    };
    const [a, b] = await Promise.all([talk(single.url), talk(ingest.url)]);
    expect(b).toEqual(a);
    await until(async () => (await client.xlen(`lf:{${name}}:in`)) === 30, 20_000);
    const users = (await client.xrange(`lf:{${name}}:in`, '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]).auth?.user_id);
    expect(new Set(users)).toEqual(new Set(['s-0005']));
  }, 120_000);

  it('P = 4 on a 3-node Redis Cluster: each event lands in its routing key\'s partition stream, in order, and a re-send in none', async () => {
    const name = uniqueName('ingestp');
    const file = demoCopy(name, 4);
    const url = inject('redisClusterUrl');
    const ingest = await start(['--role', 'ingest', '--state', url, ...none], file);
    const events = classroomEvents(600, 9);
    for (let b = 0; b < 3; b++) expect((await post(ingest.url, JSON.stringify(events.slice(b * 200, b * 200 + 200)), producerHeaders('p-c', b * 200))).status).toBe(200);
    expect((await post(ingest.url, JSON.stringify(events.slice(200, 400)), producerHeaders('p-c', 200))).body).toMatchObject({ accepted: 200, duplicates: 200 });
    const store = await RedisStateStore.connect(url);
    try {
      const got = await Promise.all([0, 1, 2, 3].map(async (n) => (await store.redis.xrange(`lf:{${name}:p${n}}:in`, '-', '+')).map(([, f]) => Number(f[f.indexOf('q') + 1]))));
      const want = [0, 1, 2, 3].map((n) => events.map((e, i) => [e, i] as const).filter(([e]) => partitionOf(String((e as any).auth.user_id), 4) === n).map(([, i]) => i));
      expect(got).toEqual(want);
      expect(got.filter((l) => l.length > 0).length).toBeGreaterThan(1);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('with Redis frozen: 503 + Retry-After in bounded time, /healthz 503, nothing acknowledged; the re-send after is counted once', async () => {
    const own = await startRedis();
    const name = uniqueName('ingestfrozen');
    const file = demoCopy(name);
    const ingest = await start(['--role', 'ingest', '--state', own.url, ...none], file);
    const c = new Redis(own.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    c.on('error', () => {}); // the test stops this Redis on purpose
    let stopped = false;
    try {
      const events = classroomEvents(300, 5);
      const batch = (b: number) => JSON.stringify(events.slice(b * 100, b * 100 + 100));
      expect((await post(ingest.url, batch(0), producerHeaders('p-f', 0))).status).toBe(200);
      process.kill(own.pid, 'SIGSTOP');
      let refused;
      try {
        const t0 = Date.now();
        refused = await post(ingest.url, batch(1), producerHeaders('p-f', 100));
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect((await fetch(`${ingest.url}/healthz`)).status).toBe(503);
      } finally {
        process.kill(own.pid, 'SIGCONT');
      }
      expect(refused.status).toBe(503);
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      // The refused batch may still have landed (its script was queued before the freeze): the re-send is exact.
      const resent = await post(ingest.url, batch(1), producerHeaders('p-f', 100));
      expect(resent.status).toBe(200);
      expect((await post(ingest.url, batch(2), producerHeaders('p-f', 200))).status).toBe(200);
      expect(await c.xlen(`lf:{${name}}:in`)).toBe(300);
      const seqs = (await c.xrange(`lf:{${name}}:in`, '-', '+')).map(([, f]) => Number(f[f.indexOf('q') + 1]));
      expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i));
      // Redis gone: refused at once (no offline queue), never acknowledged.
      await own.stop();
      stopped = true;
      const down = await post(ingest.url, batch(2), producerHeaders('p-f', 300));
      expect(down.status).toBe(503);
      expect(ingest.alive()).toBe(true);
    } finally {
      c.disconnect();
      if (!stopped) await own.stop();
    }
  }, 120_000);

  it('killed mid-request: the client retries on another node with the same producer id, and nothing counts twice', async () => {
    const name = uniqueName('ingestkill');
    const file = demoCopy(name);
    const worker = await start(['--state', redis.url, '--checkpoint', 'redis', ...none], file);
    const a = await start(['--role', 'ingest', '--state', redis.url, ...none], file);
    const b = await start(['--role', 'ingest', '--state', redis.url, ...none], file);
    const events = classroomEvents(4000, 7);
    const first = JSON.stringify(events.slice(0, 2000));
    // SIGKILL while the request is in flight (before, during or after its append: each is fine).
    const inFlight = post(a.url, first, producerHeaders('p-k', 0)).catch((err: Error) => ({ status: 0, retryAfter: null, body: err.message }));
    await new Promise((r) => setTimeout(r, 30));
    process.kill(a.pid, 'SIGKILL');
    const lost = await inFlight;
    expect([0, 200]).toContain(lost.status);
    const retry = await post(b.url, first, producerHeaders('p-k', 0));
    expect(retry.status).toBe(200);
    expect(retry.body.accepted).toBe(2000);
    expect((await post(b.url, JSON.stringify(events.slice(2000)), producerHeaders('p-k', 2000))).status).toBe(200);
    await caughtUp(worker, 4000);
    expect(await client.xlen(`lf:{${name}}:in`)).toBe(4000);
    expect(await redisSnapshot(redis.url, name)).toEqual(await referenceStates(file, events));
  }, 180_000);
});
