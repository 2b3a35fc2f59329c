// Where the time goes: the functions with the most self time in a `node --cpu-prof` profile.
import { readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
}

/** The top functions by self time of the (first) profile in `dir`: [percent, "function file:line"]. */
export function topSelfTime(dir: string, n = 8): Array<[number, string]> {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, n);
}

function summarize(prof: CpuProfile, n: number): Array<[number, string]> {
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  for (const id of prof.samples) {
    const f = byId.get(id)!.callFrame;
    const where = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(where, (self.get(where) ?? 0) + 1);
  }
  const total = prof.samples.length;
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, c]) => [Math.round((1000 * c) / total) / 10, k]);
}

/** Profile this process while `fn` runs (the inspector's CPU profiler, as --cpu-prof uses). */
export async function profileWhile<T>(fn: () => Promise<T>, n = 8): Promise<{ result: T; top: Array<[number, string]> }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const result = await fn();
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    return { result, top: summarize(profile, n) };
  } finally {
    session.disconnect();
  }
}
