// `loflow bench` / `npm run bench`: runs the workloads, writes bench/results/<date>.{json,md}, SVG plots and
// bench/results/latest.md. --quick is the CI smoke run (asserts nothing about speed).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../engine/paths.js';
import { version } from '../engine/version.js';
import { markdown, svgPlot } from './report.js';
import { workloads, type Ctx } from './workloads.js';

export async function runBench(opts: { quick: boolean; only?: string[]; out?: string; checkpoints?: string[]; options?: Record<string, string | boolean> }): Promise<{ file: string; failed: number }> {
  process.env.LOFLOW_LOG_LEVEL ??= 'warn'; // servers started by workloads: warnings only, the report is the output
  const dir = mkdtempSync(join(tmpdir(), 'loflow-bench-'));
  const ctx: Ctx = { quick: opts.quick, dir, figures: [], series: [], profiles: [], log: (m) => console.error(m), checkpoints: opts.checkpoints, options: opts.options };
  const failed: Array<{ name: string; error: string }> = [];
  const t0 = Date.now();
  for (const w of workloads) {
    if (opts.only && !opts.only.includes(w.name)) continue;
    console.error(`bench: ${w.name}...`);
    const t = Date.now();
    try {
      await w.run(ctx);
      console.error(`bench: ${w.name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed.push({ name: w.name, error: (err as Error).message });
      console.error(`bench: ${w.name} FAILED: ${(err as Error).stack}`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  // A --quick smoke run is not a result to keep: it goes to a git-ignored folder, not the tracked results.
  const out = opts.out ?? join(packageRoot, opts.quick ? 'bench/results/quick' : 'bench/results');
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-') + (opts.quick ? '-quick' : '');
  const plots: string[] = [];
  ctx.series.forEach((s, i) => {
    const name = `${stamp}-plot-${i + 1}.svg`;
    writeFileSync(join(out, name), svgPlot(s));
    plots.push(name);
  });
  const meta = {
    date: new Date().toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    loflow: version,
    duration: `${Math.round((Date.now() - t0) / 1000)} s`,
  };
  writeFileSync(join(out, `${stamp}.json`), JSON.stringify({ meta, figures: ctx.figures, series: ctx.series, profiles: ctx.profiles, failed, ...(ctx.soak ? { soak: ctx.soak } : {}) }, null, 2));
  const md = markdown(ctx.figures, meta, plots, failed, ctx.profiles);
  writeFileSync(join(out, `${stamp}.md`), md);
  if (!opts.quick) writeFileSync(join(out, 'latest.md'), md);
  console.log(md);
  return { file: join(out, `${stamp}.md`), failed: failed.length };
}
