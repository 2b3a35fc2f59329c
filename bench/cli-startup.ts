// `--only cli`: how long a command takes from a cold start, against `node -e 0` measured in the same run
// (the machine may be loaded by others, so the ratio is the figure to compare between runs). Runs are
// interleaved, command by command, so each sees the same load; the figure is the median wall time.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../engine/paths.js';
import type { Ctx } from './types.js';

interface Case {
  name: string;
  args: string[];
  /** The goal on a quiet machine (there `node -e 0` takes ~190 ms). */
  goalMs: number;
  env?: Record<string, string>;
}

const bin = join(packageRoot, 'bin/loflow.js');
const demo = join(packageRoot, 'pipelines/writing-observer.yaml');
const cases: Case[] = [
  { name: 'loflow --help', args: [bin, '--help'], goalMs: 300 },
  { name: 'loflow validate (demo pipeline)', args: [bin, 'validate', demo], goalMs: 300 },
  // What V8's code cache (engine/vendor/code-cache.ts) saves: the same command compiling from source.
  { name: 'loflow validate, code cache off', args: [bin, 'validate', demo], goalMs: 300, env: { LOFLOW_CODE_CACHE: '0' } },
  { name: 'loflow test (demo tests)', args: [bin, 'test', demo], goalMs: 1000 },
];

function wallMs(args: string[], env?: Record<string, string>): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: packageRoot, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${String(r.stderr).slice(0, 300)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const cli = {
  name: 'cli',
  async run(ctx: Ctx) {
    const runs = ctx.quick ? 5 : 15;
    const baseline: number[] = [];
    const times = cases.map(() => [] as number[]);
    wallMs(['-e', '0']); // warm the file cache for every case once
    for (const c of cases) wallMs(c.args, c.env); // and write the code caches
    for (let i = 0; i < runs; i++) {
      baseline.push(wallMs(['-e', '0']));
      cases.forEach((c, j) => times[j].push(wallMs(c.args, c.env)));
    }
    const base = median(baseline);
    ctx.figures.push({ workload: 'cli', name: `node -e 0 (baseline, median of ${runs})`, value: base, unit: 'ms' });
    cases.forEach((c, j) => {
      const ms = median(times[j]);
      ctx.figures.push({
        workload: 'cli',
        name: `${c.name}, median of ${runs}`,
        value: ms,
        unit: 'ms',
        baseline: base,
        ratio: ms / base,
        goal: `<= ${c.goalMs} ms on a quiet machine (~${(c.goalMs / 190).toFixed(1)}x node -e 0)`,
        met: ms <= c.goalMs || ms / base <= c.goalMs / 190,
      });
    });
  },
};
