// autocannon in a child process: on the same event loop as the server it measures, the load generator
// takes a share of the server's core (and a larger share of a cheap server's: the bare baseline looked
// relatively faster than it is). A child runs on the other core, like a real client would.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CannonResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  non2xx: number;
}

const child = new URL('./cannon-child.js', import.meta.url);

/** POST the bodies in turn (each connection cycles through them) for `seconds`. */
export async function cannon(url: string, bodies: string[], connections: number, seconds: number, dir: string): Promise<CannonResult> {
  const file = join(dir, `cannon-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({ url, bodies, connections, seconds }));
  const p = spawn(process.execPath, [child.pathname, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  if (code !== 0) throw new Error(`autocannon (child) exited with ${code}: ${err.trim()}`);
  return JSON.parse(out) as CannonResult;
}
