// Where the time goes: the functions with the most self time in a CPU profile (`node --cpu-prof`, or the
// inspector's profiler in this process), and the same time grouped by dependency or loflow folder.
import { readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
}

export interface ProfileSummary {
  /** [percent, "function file:line"] by self time. */
  top: Array<[number, string]>;
  /** [percent, area]: a dependency (node_modules/<package>), a loflow folder (dist/<folder>), or node/V8. */
  byArea: Array<[number, string]>;
}

function tally(prof: CpuProfile, label: (f: CpuProfile['nodes'][number]['callFrame']) => string, n: number): Array<[number, string]> {
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  for (const id of prof.samples) {
    const k = label(byId.get(id)!.callFrame);
    self.set(k, (self.get(k) ?? 0) + 1);
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, c]) => [Math.round((1000 * c) / prof.samples.length) / 10, k]);
}

function summarize(prof: CpuProfile, n: number): ProfileSummary {
  return {
    top: tally(prof, (f) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`, n),
    byArea: tally(
      prof,
      ({ url, functionName }) => {
        const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url) ?? /\/dist\/([^/]+(?:\/[^/]+)?)\//.exec(url);
        return m ? m[1] : url.startsWith('node:') ? 'node internals' : functionName.startsWith('(') ? functionName : 'native (syscalls, JSON, builtins)';
      },
      8,
    ),
  };
}

/** The summary of the (first) .cpuprofile in `dir`. */
export function profileInDir(dir: string, n = 8): ProfileSummary {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, n);
}

/** Profile this process while `fn` runs (the inspector's CPU profiler, as --cpu-prof uses). */
export async function profileWhile<T>(fn: () => Promise<T>, n = 8): Promise<{ result: T; profile: CpuProfile } & ProfileSummary> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const result = await fn();
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    return { result, profile, ...summarize(profile, n) };
  } finally {
    session.disconnect();
  }
}
