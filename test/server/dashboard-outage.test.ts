// A dashboard whose class must be read from Redis while Redis is down: the JSON route answers 503 with
// Retry-After, a WebSocket subscriber gets an `error` message and a 1011 close; when Redis is back, the same
// request answers the class: the failed read left nothing behind (the class is read again).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { pino } from 'pino';
import { startRedis } from '../../bench/servers.js';
import { compilePipeline } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { startServer } from '../../engine/server/index.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { demoPipeline, keystroke } from './server-fixture.js';

describe('dashboards during a Redis outage', () => {
  it('answers 503 + Retry-After (JSON) and error + 1011 (WebSocket) while the class cannot be read, then recovers', async () => {
    const redis = await startRedis();
    const text = readFileSync(demoPipeline, 'utf8').replace('pipeline: writing-observer', `pipeline: outage${Date.now()}`);
    const pipeline = (await compilePipeline(text, demoPipeline)).pipeline!;
    // Another process's states in Redis (written again after the outage: this Redis keeps nothing on disk).
    const seed = async () => {
      const other = new Engine(pipeline, { store: await RedisStateStore.connect(redis.url) });
      await other.ingest('extension', [keystroke('s-0000', 1000), keystroke('s-0000', 1100)]);
      await other.stop();
    };
    await seed();

    // A new server on the same Redis: class-a is not in its working set yet.
    const engine = new Engine(pipeline, { store: await RedisStateStore.connect(redis.url), retryMs: 20 });
    await engine.start();
    const s = await startServer({ pipeline, engine, port: 0, auth: { teacherTokens: { 'tok-ada': 't-ada' } }, logger: pino({ level: 'silent' }) });
    const get = () => fetch(`${s.url}/v1/dashboards/overview/class-a`, { headers: { authorization: 'Bearer tok-ada' } });
    let back: Awaited<ReturnType<typeof startRedis>> | undefined;
    try {
      await redis.stop();
      const down = await get();
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('2');
      expect(((await down.json()) as { error: string }).error).toMatch(/state store unavailable/);

      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/dashboards/overview/class-a/live?token=tok-ada`);
      const first = await new Promise<any>((resolve, reject) => {
        ws.once('message', (m) => resolve(JSON.parse(String(m))));
        ws.once('error', reject);
      });
      const closed = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      expect(first.type).toBe('error');
      expect(first.error).toMatch(/could not be loaded/);
      expect(closed).toBe(1011);

      back = await startRedis({ port: redis.port });
      await seed();
      let up = await get();
      for (let i = 0; up.status !== 200 && i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50)); // ioredis reconnects on its own schedule
        up = await get();
      }
      expect(up.status).toBe(200);
      const body = (await up.json()) as { rows: Array<{ member: string; events?: number }> };
      expect(body.rows.find((r) => r.member === 's-0000')?.events).toBe(2);
    } finally {
      await s.stop();
      await engine.stop();
      await back?.stop();
    }
  });
});
