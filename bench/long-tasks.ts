// What blocks the event loop: from a `node --cpu-prof` profile, the longest stretches of consecutive
// non-idle samples (the loop never got back to polling), and what ran in them. A dashboard push that is due
// waits for the stretch to end, so a p99 tail of ~65 ms is a stretch of about that length.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

export interface LongTask {
  ms: number;
  /** Seconds since the profile started. */
  at: number;
  /** The deepest function on the stack in at least half the stretch's samples: what the stretch was doing. */
  inside: string;
  /** Most self time in the stretch: [percent, function]. */
  self: Array<[number, string]>;
}

const label = (f: Node['callFrame']) => `${f.functionName || '(anonymous)'}${f.url ? ` ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''}`;

/** The `n` longest stretches over `minMs` in the (first) profile of `dir`, longest first. */
export function longTasks(dir: string, minMs = 30, n = 5): LongTask[] {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [];
  const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of prof.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const stack = (id: number) => {
    const s: number[] = [];
    for (let i: number | undefined = id; i !== undefined; i = parent.get(i)) s.push(i);
    return s.reverse(); // root first
  };
  const tasks: LongTask[] = [];
  let t = 0;
  let start = -1;
  let startT = 0;
  const close = (end: number) => {
    const ms = (t - startT) / 1000;
    if (ms < minMs) return;
    const ids = prof.samples.slice(start, end);
    const self = new Map<string, number>();
    const incl = new Map<number, number>();
    for (const id of ids) {
      const k = label(byId.get(id)!.callFrame);
      self.set(k, (self.get(k) ?? 0) + 1);
      for (const s of new Set(stack(id))) incl.set(s, (incl.get(s) ?? 0) + 1);
    }
    const deep = [...incl].filter(([, c]) => c >= ids.length / 2).map(([id]) => id).sort((a, b) => stack(b).length - stack(a).length)[0];
    tasks.push({
      ms: Math.round(ms),
      at: Math.round(startT / 1e4) / 100,
      inside: deep !== undefined ? label(byId.get(deep)!.callFrame) : '',
      self: [...self].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, c]) => [Math.round((100 * c) / ids.length), k]),
    });
  };
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    const idle = byId.get(prof.samples[i])!.callFrame.functionName === '(idle)';
    if (!idle && start < 0) {
      start = i;
      startT = t;
    } else if (idle && start >= 0) {
      close(i);
      start = -1;
    }
  }
  if (start >= 0) close(prof.samples.length);
  return tasks.sort((a, b) => b.ms - a.ms).slice(0, n);
}
