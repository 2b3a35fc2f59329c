// Shared by the exchange-edge tests (docs/scale-out.md §6, §11 T8): the example pipeline with its student →
// class re-keying cascade (pipelines/examples/writing-observer.exchange.yaml) under a fresh name, and a
// check that the partitions are quiet: every input entry applied, every fwd entry forwarded, every rp entry applied.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { partitionStoreName } from '../../engine/partition.js';
import { curKey, fwdKey, rpKey } from '../../engine/state/key-layout.js';
import type { CompiledPipeline } from '../../engine/types.js';

const root = join(import.meta.dirname, '../..');

/** The exchange example named `name` on `count` partitions, and its P = 1 twin (the oracle's). */
export async function exchangeDemo(name: string, count: number): Promise<{ dir: string; file: string; pipeline: CompiledPipeline; single: CompiledPipeline }> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-exchange-'));
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const text = readFileSync(join(root, 'pipelines/examples/writing-observer.exchange.yaml'), 'utf8')
    .replace('pipeline: writing-observer-exchange', `pipeline: ${name}`)
    .replace('../rosters/demo.csv', 'rosters/demo.csv')
    .replace(/^partitions: .*$/m, '');
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, `${text}\npartitions: { count: ${count} }\n`);
  writeFileSync(join(dir, 'single.yaml'), text);
  const [{ pipeline, errors }, { pipeline: single }] = await Promise.all([compilePipelineFile(file), compilePipelineFile(join(dir, 'single.yaml'))]);
  if (!pipeline || !single) throw new Error(`exchange pipeline did not compile: ${JSON.stringify(errors)}`);
  return { dir, file, pipeline, single };
}

/** Redis's last id of a stream ('0-0' when it does not exist). */
async function lastId(redis: Redis | Cluster, key: string): Promise<string> {
  try {
    const info = (await redis.xinfo('STREAM', key)) as Array<string | unknown>;
    return String(info[info.indexOf('last-generated-id') + 1]);
  } catch {
    return '0-0';
  }
}

/** Every partition applied its input (its Redis log's), forwarded its fwd entries (fwd empty) and applied every rp entry. */
export async function drained(redis: Redis | Cluster, name: string, count: number): Promise<boolean> {
  for (let n = 0; n < count; n++) {
    const tag = partitionStoreName(name, n, count);
    const cur = await redis.hgetall(curKey(tag));
    // cur.end is the Redis log's (ingest.lua); an in-memory log (an Engine's) has none: its flush said so.
    if (cur.end !== undefined && Number(cur.in ?? 0) !== Number(cur.end)) return false;
    if ((await redis.xlen(fwdKey(tag))) > 0) return false;
    for (let m = 0; m < count; m++) {
      if (m === n) continue;
      if ((await lastId(redis, rpKey(tag, m))) !== (cur[`rp:${m}`] ?? '0-0')) return false;
    }
  }
  return true;
}

/** Items each partition received over the exchange (sum of the rp streams' entries ever added). */
export async function exchanged(redis: Redis | Cluster, name: string, count: number): Promise<number> {
  let total = 0;
  for (let n = 0; n < count; n++) {
    for (let m = 0; m < count; m++) {
      if (m === n) continue;
      try {
        const info = (await redis.xinfo('STREAM', rpKey(partitionStoreName(name, n, count), m))) as Array<string | unknown>;
        const i = info.indexOf('entries-added');
        total += i >= 0 ? Number(info[i + 1]) : 0;
      } catch {
        // no such stream: nothing re-keyed from m to n
      }
    }
  }
  return total;
}

/** The oracle's states and the workers' equal: exactly, except Welford's mean/m2 (float rounding depends on order). */
export function expectEqualStates(got: Record<string, unknown>, want: Record<string, unknown>): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [k, w] of Object.entries(want)) {
    const g = got[k] as Record<string, number>;
    if (k.startsWith('class_bursts/')) {
      const ws = w as Record<string, number>;
      expect({ k, n: g.n, sum: g.sum, min: g.min, max: g.max }).toEqual({ k, n: ws.n, sum: ws.sum, min: ws.min, max: ws.max });
      expect(g.mean).toBeCloseTo(ws.mean, 9);
      expect(g.m2).toBeCloseTo(ws.m2, 6);
    } else expect({ k, s: g }).toEqual({ k, s: w });
  }
}
