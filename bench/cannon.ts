// autocannon in a child process: on the same event loop as the server it measures, the load generator
// takes a share of the server's core (and a larger share of a cheap server's: the bare baseline looked
// relatively faster than it is). A child runs on the other core, like a real client would.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

export interface CannonResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  non2xx: number;
}

export async function cannon(url: string, body: string, connections: number, seconds: number, dir: string): Promise<CannonResult> {
  const file = join(dir, `cannon-body-${process.pid}.json`);
  writeFileSync(file, body);
  const child = spawn(process.execPath, [cli, '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-i', file, '--json', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`autocannon exited with ${code}: ${err.trim()}`);
  const r = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p90: number; p99: number }; non2xx: number };
  return { rps: r.requests.average, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, non2xx: r.non2xx };
}
