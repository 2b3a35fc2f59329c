// Helpers of the served erasure test: a copy of the demo pipeline whose archive commits every second, events
// sent over HTTP, waiting until the server has processed them, and reading a class's dashboard.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoEvent } from '../../engine/types.js';
import { root } from '../cli/run-cli.js';
import { until } from '../hardening/serve-child.js';

export const ADMIN = 'admin-erase-test-token';

/** The demo pipeline in `dir`, archive commits every second (the test waits for one), roster beside it. */
export function demoCopy(dir: string): string {
  mkdirSync(join(dir, 'rosters'), { recursive: true });
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const text = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('commit_every: 10s', 'commit_every: 1s');
  if (!text.includes('commit_every: 1s')) throw new Error('the demo pipeline changed: commit_every not found');
  const file = join(dir, 'writing-observer.yaml');
  writeFileSync(file, text);
  return file;
}

/** POST to the batch source in slices; refused events are the caller's concern (the answer says). */
export async function send(url: string, events: LoEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 200) {
    const r = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events.slice(i, i + 200)) });
    if (r.status >= 300 && r.status !== 207 && r.status !== 400) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
  }
}

/** Until the server has processed at least `n` logged events and everything it logged. */
export async function processed(url: string, n: number): Promise<void> {
  await until(async () => {
    const h = (await (await fetch(`${url}/healthz`)).json()) as { committed_offset: number; log_end: number };
    return h.log_end >= n && h.committed_offset === h.log_end;
  }, 60_000);
}

/** A class's dashboard snapshot (the demo tokens: demo-<teacher>). */
export async function dashboard(url: string, group: string, teacher: string): Promise<unknown> {
  const r = await fetch(`${url}/v1/dashboards/overview/${group}`, { headers: { authorization: `Bearer demo-${teacher}` } });
  if (r.status !== 200) throw new Error(`dashboard answered ${r.status}: ${await r.text()}`);
  return r.json();
}
