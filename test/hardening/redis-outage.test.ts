// Hardening #17, finding 9: `loflow serve` on Redis state with the default in-memory input log while its
// redis-server is frozen (SIGSTOP: the socket stays open, nothing answers) for 5 s. At-least-once senders
// (producer + seq headers) keep sending, sometimes re-send an acknowledged batch (a lost answer) and
// sometimes give up on a request and send it again (an abandoned request that may still be processed).
// During the freeze ingest must answer 503 + Retry-After within a bounded time (not acknowledge into RAM,
// not hang), /healthz must say 503 with the reason; afterwards every event sent is counted exactly once:
// the states in Redis equal an in-memory run's over the same events.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from '../../engine/classroom.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { startServer } from '../../engine/server/index.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { StateStore } from '../../engine/types.js';
import { startRedis } from '../../bench/servers.js';
import { pino } from 'pino';

const root = join(import.meta.dirname, '../..');
const demo = join(root, 'pipelines/writing-observer.yaml');
const PRODUCERS = 3;
const BATCH = 50;
const FREEZE_MS = 5000;
/** A request taking longer than this counts as hung (and is given up on by the sender). */
const HANG_MS = 6000;
/** The first 503 must come this soon after the freeze (the Redis command timeout is 2 s by default). */
const REFUSE_WITHIN_MS = 4000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Each producer has its own students, so per-key order is the producer's order in any interleaving.
const eventOf = (p: number, seq: number) => ({ event: 'keystroke', ts: 1_000_000 + seq * 100, auth: { user_id: `s-${String(p * 10 + (seq % 10)).padStart(4, '0')}` }, doc_id: `d${seq % 3}`, keystroke: { key: 'a' } });
const batchOf = (p: number, b: number) => Array.from({ length: BATCH }, (_, i) => eventOf(p, b * BATCH + i));

async function snapshot(store: StateStore, pipeline: string) {
  const out: Record<string, unknown> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.key}`] = state;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

describe('Redis frozen under serve with the in-memory log (hardening #17.9)', () => {
  it('refuses with 503 + Retry-After in bounded time, /healthz says why, and counts every sent event once', async () => {
    const redis = await startRedis();
    const child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', demo, '--port', '0', '--state', redis.url, '--stall-seconds', '2', '--data', mkdtempSync(join(tmpdir(), 'loflow-redisout-'))], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const m = /live at (http:\/\/[\d.:]+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
      });

      type Answer = { at: number; ms: number; status: number; retryAfter: string | null };
      const answers: Answer[] = [];
      const post = async (p: number, b: number, timeoutMs = HANG_MS): Promise<number> => {
        const at = Date.now();
        let status = 0; // 0: no answer within timeoutMs (hung, given up on) or aborted
        let retryAfter: string | null = null;
        try {
          const r = await fetch(`${url}/v1/events`, {
            method: 'POST',
            body: JSON.stringify(batchOf(p, b)),
            headers: { 'content-type': 'application/json', 'x-loflow-producer': `producer-${p}`, 'x-loflow-seq': String(b * BATCH) },
            signal: AbortSignal.timeout(timeoutMs),
          });
          status = r.status;
          retryAfter = r.headers.get('retry-after');
          await r.text();
        } catch {
          /* given up on */
        }
        if (timeoutMs === HANG_MS) answers.push({ at, ms: Date.now() - at, status, retryAfter });
        return status;
      };

      let sending = true;
      const sent = new Array<number>(PRODUCERS).fill(0); // batches acknowledged per producer
      const producer = async (p: number) => {
        const random = rng(100 + p);
        for (let b = 0; sending; b++) {
          // An abandoned request: sent, given up on after a few ms; the server may still process it.
          if (random() < 0.1) await post(p, b, 1 + Math.floor(random() * 5));
          // At-least-once: until acknowledged (Retry-After is honoured loosely to keep the test short).
          while ((await post(p, b)) !== 200) await sleep(100);
          // A lost answer: the sender re-sends a batch that was acknowledged.
          if (random() < 0.1) await post(p, b);
          sent[p] = b + 1;
          await sleep(40);
        }
      };
      const health: Array<{ at: number; status: number; body: { ok: boolean; error: string | null; store: string; stalled_s: number } }> = [];
      const getHealth = async () => {
        const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(HANG_MS) });
        return { status: r.status, body: (await r.json()) as (typeof health)[number]['body'] };
      };

      const senders = Array.from({ length: PRODUCERS }, (_, p) => producer(p));
      await sleep(1500);
      expect((await getHealth()).status).toBe(200);

      const frozenAt = Date.now();
      process.kill(redis.pid, 'SIGSTOP');
      while (Date.now() - frozenAt < FREEZE_MS) {
        const at = Date.now();
        health.push({ at, ...(await getHealth()) });
        await sleep(250);
      }
      const thawedAt = Date.now();
      process.kill(redis.pid, 'SIGCONT');
      await sleep(3000);
      sending = false;
      await Promise.all(senders);

      const total = sent.reduce((a, n) => a + n, 0) * BATCH;
      const during = answers.filter((a) => a.at >= frozenAt && a.at < thawedAt);
      const refused = during.filter((a) => a.status === 503);
      console.log(
        `redis outage: ${total} events sent in ${answers.length} requests; during the freeze ${during.length} requests: ` +
          `${during.filter((a) => a.status === 200).length} acknowledged, ${refused.length} refused (503), first 503 ${refused.length ? refused[0].at + refused[0].ms - frozenAt : '-'} ms after the freeze; ` +
          `slowest request ${Math.max(...answers.map((a) => a.ms))} ms`,
      );
      // Refused in bounded time, with Retry-After; no request hung.
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0].at + refused[0].ms - frozenAt).toBeLessThan(REFUSE_WITHIN_MS);
      for (const a of refused) expect(Number(a.retryAfter)).toBeGreaterThan(0);
      expect(answers.filter((a) => a.status === 0)).toEqual([]);
      // Once refusing, acknowledged into RAM no more until Redis is back.
      expect(during.filter((a) => a.status === 200 && a.at > refused[0].at)).toEqual([]);
      // Accepting again after the thaw.
      expect(answers.some((a) => a.at > thawedAt && a.status === 200)).toBe(true);

      // /healthz said 503, why, and that the pipeline stalled (committed offset still, events waiting).
      const down = health.filter((x) => x.status === 503);
      expect(down.length).toBeGreaterThan(0);
      expect(down[0].at - frozenAt).toBeLessThan(REFUSE_WITHIN_MS);
      expect(down.at(-1)!.body).toMatchObject({ ok: false, store: 'unavailable', error: expect.stringMatching(/redis unavailable/) });
      expect(Math.max(...health.map((x) => x.body.stalled_s))).toBeGreaterThanOrEqual(2);

      // Everything logged is processed and committed, and the log holds each sent event once.
      let h = await getHealth();
      for (let i = 0; !(h.body.ok && (h.body as any).committed_offset === (h.body as any).log_end) && i < 100; i++) {
        await sleep(100);
        h = await getHealth();
      }
      expect(h.status).toBe(200);
      expect((h.body as any).log_end).toBe(total);

      const stopped = exited;
      child.kill('SIGTERM');
      await stopped;
      // Exactly once: the states equal an in-memory run's over each producer's acknowledged batches.
      const { pipeline } = await compilePipelineFile(demo);
      const memory = new MemoryStateStore();
      const reference = new Engine(pipeline!, { store: memory });
      for (let p = 0; p < PRODUCERS; p++) for (let b = 0; b < sent[p]; b++) await reference.ingest('batch', batchOf(p, b));
      await reference.flush();
      const store = await RedisStateStore.connect(redis.url);
      const [got, want] = [await snapshot(store, pipeline!.name), await snapshot(memory, pipeline!.name)];
      await store.close();
      await reference.stop();
      const counted = Object.entries(got).filter(([k]) => k.startsWith('events/')).reduce((a, [, v]) => a + (v as number), 0);
      expect(counted).toBe(total);
      expect(got).toEqual(want);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      await redis.stop();
    }
  }, 60_000);

  it('answers 503 + Retry-After after a bounded wait when the backlog is full, instead of holding the request; /healthz probes an idle store', async () => {
    const redis = await startRedis();
    const { pipeline } = await compilePipelineFile(demo);
    const engine = new Engine(pipeline!, { store: await RedisStateStore.connect(redis.url), queueLimit: 100, batchSize: 50, retryMs: 20 });
    await engine.start();
    const s = await startServer({ pipeline: pipeline!, engine, port: 0, limits: { queueWaitMs: 500 }, logger: pino({ level: 'silent' }) });
    const post = (p: number, b: number) =>
      fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(batchOf(p, b)), headers: { 'x-loflow-producer': `p${p}`, 'x-loflow-seq': String(b * BATCH) }, signal: AbortSignal.timeout(HANG_MS) });
    try {
      expect((await post(0, 0)).status).toBe(200);
      await engine.flush();
      process.kill(redis.pid, 'SIGSTOP');
      // Idle (nothing to process), yet /healthz finds out: it asks the store, for at most a second.
      const t = Date.now();
      const idle = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(HANG_MS) });
      expect(Date.now() - t).toBeLessThan(2000);
      expect(idle.status).toBe(503);
      expect(await idle.json()).toMatchObject({ ok: false, store: 'unavailable', error: expect.stringMatching(/^state store not answering/) });
      // Two batches fill the backlog (the batch in flight waits on the frozen Redis); the third finds no room.
      expect((await post(0, 1)).status).toBe(200);
      expect((await post(0, 2)).status).toBe(200);
      const t0 = Date.now();
      const full = await post(0, 3);
      const waited = Date.now() - t0;
      expect(full.status).toBe(503);
      expect(full.headers.get('retry-after')).toBe('1');
      expect(((await full.json()) as { error: string }).error).toMatch(/backlog full: 100 accepted events wait/);
      expect(waited).toBeGreaterThanOrEqual(450);
      expect(waited).toBeLessThan(1500);
      process.kill(redis.pid, 'SIGCONT');
      // The sender retries until accepted; once Redis answers, the backlog drains and every event counts once.
      for (let i = 0; (await post(0, 3)).status !== 200; i++) {
        expect(i).toBeLessThan(100);
        await sleep(100);
      }
      await engine.flush();
      expect(engine.stats()).toMatchObject({ logEnd: 4 * BATCH, committedOffset: 4 * BATCH });
      const counts = engine.keys('events').map((k) => engine.view('events', k) as number);
      expect(counts.reduce((a, n) => a + n, 0)).toBe(4 * BATCH);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
      await s.stop();
      await engine.stop();
      await redis.stop();
    }
  });
});
