// `loflow replay --threads N` (parse workers, engine on the main thread) against `--threads 1` and against
// parsing the same file on one thread, in the same run. Own processes, as users run it; each measured twice,
// interleaved, best kept: on a machine other work loads, the best of a few runs is the least disturbed one.
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../engine/paths.js';
import { demoFile } from './fixtures.js';
import type { Ctx } from './types.js';

/** events/s of one `loflow replay --summary` run in its own process. */
function replayOnce(file: string, threads: number): number {
  const out = execFileSync(process.execPath, [join(packageRoot, 'bin/loflow.js'), 'replay', demoFile, file, '--summary', '--no-log', '--threads', String(threads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return (JSON.parse(out) as { eventsPerSec: number }).eventsPerSec;
}

/** Add the threaded replay figures; `parseBaseline`: events/s of readNdjson alone on one thread, same file. */
export function replayThreads(ctx: Ctx, file: string, parseBaseline: number): void {
  const threads = Math.max(2, availableParallelism());
  const best = { one: 0, many: 0 };
  for (let i = 0; i < 2; i++) {
    best.one = Math.max(best.one, replayOnce(file, 1));
    best.many = Math.max(best.many, replayOnce(file, threads));
  }
  const load = `load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${availableParallelism()} cores`;
  ctx.figures.push({
    workload: 'replay',
    name: `\`loflow replay --threads ${threads}\` (own process) vs JSON parsing on one thread`,
    value: best.many,
    unit: 'events/s',
    baseline: parseBaseline,
    ratio: best.many / parseBaseline,
    goal: '>= 1,000,000 events/s',
    met: best.many >= 1_000_000,
    note: `best of 2; ${load}`,
  });
  ctx.figures.push({
    workload: 'replay',
    name: `\`loflow replay --threads ${threads}\` vs \`--threads 1\` (own processes)`,
    value: best.many,
    unit: 'events/s',
    baseline: best.one,
    ratio: best.many / best.one,
    note: `--threads 1: ${Math.round(best.one).toLocaleString('en')} events/s (ratio to parsing ${(best.one / parseBaseline).toFixed(2)}); best of 2; ${load}`,
  });
  ctx.log(`replay threads: 1 thread ${Math.round(best.one)} ev/s, ${threads} threads ${Math.round(best.many)} ev/s, parse ${Math.round(parseBaseline)} ev/s`);
}
