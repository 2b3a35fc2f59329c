// Helpers for the scale-out operations tests: the demo pipeline under a fresh name (optionally partitioned)
// in a temp folder with its roster, classroom events, and a serve child fed and drained over HTTP.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classroom } from '../../engine/classroom.js';
import type { LoEvent } from '../../engine/types.js';
import { root } from './run-cli.js';
import { until, type ServeChild } from '../hardening/serve-child.js';

export const uniqueName = (prefix: string) => `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** The demo pipeline as `name`, with `partitions: {count}` when count > 1; returns the file. */
export function demoCopy(name: string, count = 1): string {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-cluster-test-'));
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const text = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, count > 1 ? `${text}\npartitions: { count: ${count} }\n` : text);
  return file;
}

export const classroomEvents = (n: number, seed = 3) => [...new Classroom({ students: 20, seed }).events(n)].map((e) => e.event as LoEvent);

/** POST the events to a serve child (until acknowledged) and wait until all are committed. */
export async function feedAndDrain(s: ServeChild, events: LoEvent[]): Promise<void> {
  const r = await fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(events), headers: { 'content-type': 'application/json' } });
  if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
  await until(async () => {
    const h = (await (await fetch(`${s.url}/healthz`)).json()) as { committed_offset: number; log_end: number };
    return h.committed_offset === events.length && h.log_end === events.length;
  }, 60_000);
}
