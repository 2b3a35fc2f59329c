// Shared by the role-node tests: HTTP posting with producer headers, the states a Redis holds for a
// pipeline, and the states an in-process reference engine computes from the same events.
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { LoEvent, StateStore } from '../../engine/types.js';

export type Answer = { status: number; retryAfter: string | null; body: any };

export async function post(url: string, body: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<Answer> {
  const r = await fetch(`${url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: r.status, retryAfter: r.headers.get('retry-after'), body: parsed };
}

export const producerHeaders = (id: string, seq: number) => ({ 'x-loflow-producer': id, 'x-loflow-seq': String(seq) });

/** What at-least-once producers saw: events acknowledged, requests refused (or lost) and re-sent. */
export interface ProducerCounts {
  acked: number;
  refused: number;
}

/**
 * An at-least-once producer: its events in numbered batches (a batch's producer seq is its first event's
 * index), each re-sent with the same seq until acknowledged, every attempt to the next of `urls()` (so a
 * retry goes to another node); `pace` runs after each acknowledged batch.
 */
export async function produceUntilAcked(id: string, events: unknown[], opts: { urls: () => string[]; batch: number; counts: ProducerCounts; maxAttempts: number; pace?: () => Promise<void> }): Promise<void> {
  const { batch, counts } = opts;
  for (let seq = 0, turn = 0; seq < events.length; seq += batch) {
    const body = JSON.stringify(events.slice(seq, seq + batch));
    for (let attempt = 0; ; attempt++, turn++) {
      const urls = opts.urls();
      const r = await post(urls[turn % urls.length], body, producerHeaders(id, seq), 20_000).catch(() => null);
      if (r?.status === 200) break;
      counts.refused++;
      if (attempt > opts.maxAttempts) throw new Error(`producer ${id} batch ${seq}: not acknowledged after ${attempt} attempts (last ${r?.status}: ${JSON.stringify(r?.body)})`);
      await new Promise((res) => setTimeout(res, 100));
    }
    turn++;
    counts.acked += Math.min(batch, events.length - seq);
    await opts.pace?.();
  }
}

export async function snapshot(store: StateStore, pipeline: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.key}`] = state;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

export async function redisSnapshot(url: string, pipeline: string): Promise<Record<string, unknown>> {
  const store = await RedisStateStore.connect(url);
  try {
    return await snapshot(store, pipeline);
  } finally {
    await store.close();
  }
}

/** The states a single in-memory process computes from the events, in this order. */
export async function referenceStates(file: string, events: LoEvent[]): Promise<Record<string, unknown>> {
  const { pipeline } = await compilePipelineFile(file);
  if (!pipeline) throw new Error(`pipeline ${file} does not compile`);
  const engine = new Engine(pipeline);
  await engine.ingest('batch', events);
  await engine.flush();
  const out = await snapshot(engine.store, pipeline.name);
  await engine.stop();
  return out;
}
