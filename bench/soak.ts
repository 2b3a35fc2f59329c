// Soak: `loflow serve` as a child at half its measured maximum load for a long time (30 minutes by default;
// `loflow bench --only soak --duration 5m`; `--rate N` skips measuring the maximum and offers N events/s),
// sampling per window the child's RSS (/proc, else /metrics), its event-loop delay (the p99 and max of
// perf_hooks' monitorEventLoopDelay that /metrics reports and resets at each scrape) and event-to-dashboard
// latency (a probe student over its WebSocket, a teacher watching its class: hdr histogram per window).
// Reports the series (JSON, SVG plots) and whether memory is flat: the least-squares slope of RSS over the
// run after its first fifth (warm-up), in MiB per hour. In --quick (CI) it runs for 6 seconds: a smoke run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import hdr from 'hdr-histogram-js';
import type WebSocket from 'ws';
import { rosterCsv } from '../engine/classroom.js';
import { demoFile } from './fixtures.js';
import { HttpLoad } from './http-load.js';
import { health, metric, startServe } from './serve-child.js';
import { freePort } from './servers.js';
import type { Ctx } from './types.js';
import { studentSockets, watch, type DashboardRow } from './ws-clients.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `30m`, `90s`, `1h`, `45` (seconds). */
export function parseDuration(v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`--duration: '${v}' is not a duration (e.g. 30m, 90s, 1h)`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/** Least-squares slope of y over x. */
export function slope(points: Array<{ x: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export interface SoakSample {
  /** Seconds since the soak started (end of the window). */
  t: number;
  rssMiB: number;
  heapMiB: number;
  loopP99ms: number;
  loopMaxMs: number;
  latencyP99ms: number;
  latencyP50ms: number;
  offered: number;
  processed: number;
  backlog: number;
  failed: number;
}

/** A flat memory verdict: RSS grows less than this many MiB per hour after the warm-up. */
export const FLAT_MIB_PER_HOUR = 10;

export function memoryVerdict(samples: SoakSample[]): { slopeMiBPerHour: number; flat: boolean; used: number } {
  const after = samples.filter((s) => s.t >= (samples.at(-1)?.t ?? 0) / 5);
  const k = slope(after.map((s) => ({ x: s.t / 3600, y: s.rssMiB })));
  return { slopeMiBPerHour: k, flat: k <= FLAT_MIB_PER_HOUR, used: after.length };
}

export const soak = {
  name: 'soak',
  async run(ctx: Ctx) {
    const duration = ctx.quick ? 6 : parseDuration(typeof ctx.options?.duration === 'string' ? ctx.options.duration : undefined, 30 * 60);
    const fixedRate = typeof ctx.options?.rate === 'string' ? Number(ctx.options.rate) : undefined;
    const students = ctx.quick ? 100 : 500;
    const classes = Math.ceil(students / 25);
    const minInterval = 50;
    // About 60 windows over the run (at least 1 s, at most 60 s each).
    const windowS = Math.min(60, Math.max(1, Math.round(duration / 60)));
    const dir = mkdtempSync(join(ctx.dir, 'soak-'));
    const csv = rosterCsv(students, classes);
    writeFileSync(join(dir, 'roster.csv'), csv);
    writeFileSync(join(dir, 'p.yaml'), readFileSync(demoFile, 'utf8').replace('rosters/demo.csv', 'roster.csv').replace(/min_interval: \d+ms/, `min_interval: ${minInterval}ms`));
    const classTeacher = new Map(csv.trim().split('\n').slice(1).map((l) => l.split(',')).map(([, c, t]) => [c, t]));
    const keys = Array.from({ length: 32 }, (_, i) => `soak-key-${i}`);
    const server = await startServe(join(dir, 'p.yaml'), await freePort(), ['--data', join(dir, 'data'), '--demo-tokens', '--demo'], { LOFLOW_API_KEYS: keys.join(',') });
    const base = server.url.replace('http', 'ws');
    const sockets: WebSocket[] = [];
    let load: HttpLoad | undefined;
    const rss = async () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
        if (m) return Number(m[1]) / 1024;
      } catch {
        /* not Linux */
      }
      return ((await metric(server.url, 'loflow_process_resident_memory_bytes')) ?? NaN) / 2 ** 20;
    };
    try {
      const ids = Array.from({ length: students }, (_, i) => `s-${String(i).padStart(4, '0')}`);
      const [probe] = await studentSockets(base, ids.slice(0, 1), keys[0]);
      sockets.push(probe);
      // Probe latency: the count of s-0000's events on its teacher's dashboard says which probes are visible.
      const sentAt: number[] = [];
      let seen = 0;
      let probeBase = 0;
      let hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
      const w = await watch(`${base}/v1/dashboards/overview/class-a/live?token=demo-${classTeacher.get('class-a')}`, (rows: DashboardRow[]) => {
        const row = rows.find((r) => r.member === 's-0000');
        if (!row) return;
        const now = performance.now();
        for (; seen < Number(row.events) - probeBase && seen < sentAt.length; seen++) hist.recordValue(Math.max(1, Math.round(now - sentAt[seen])));
      });
      sockets.push(w.ws);
      probeBase = Number(w.snapshot.find((r) => r.member === 's-0000')?.events ?? 0);
      for (const [c, t] of classTeacher) if (c !== 'class-a') sockets.push((await watch(`${base}/v1/dashboards/overview/${c}/live?token=demo-${t}`, () => {})).ws);

      load = new HttpLoad(`${server.url}/v1/events`, ids.slice(1), keys);
      const drained = async (ms: number) => {
        const end = performance.now() + ms;
        while (performance.now() < end && (await health(server.url)).queue_depth > 0) await sleep(50);
      };
      let max = fixedRate ? fixedRate * 2 : 0;
      if (!fixedRate) {
        // The maximum, briefly: flat out (processed per second), after a warm-up round.
        for (const [i, secs] of (ctx.quick ? [1, 1] : [2, 4]).entries()) {
          const before = (await health(server.url)).processed;
          const t0 = performance.now();
          await load.run(Infinity, secs);
          const rate = ((await health(server.url)).processed - before) / ((performance.now() - t0) / 1000);
          await drained(30_000);
          if (i === 1) max = rate;
        }
        ctx.figures.push({ workload: 'soak', name: `maximum ingest, measured before the soak (POST /v1/events, ${HttpLoad.batch}-event batches, ${students} students)`, value: max, unit: 'events/s' });
      }
      const rate = max / 2;
      ctx.log(`soak: ${Math.round(rate)} events/s (half of ${Math.round(max)}) for ${duration} s in ${windowS} s windows`);

      // The probe: one event every 100 ms over the student's WebSocket, all along.
      let probing = true;
      const probeLoop = (async () => {
        const t0 = performance.now();
        for (let k = 0; probing; k++) {
          sentAt.push(performance.now());
          probe.send(`{"event":"keystroke","ts":${Date.now()},"doc_id":"probe","keystroke":{"key":"a"}}`);
          await sleep(Math.max(0, t0 + (k + 1) * 100 - performance.now()));
        }
      })();
      await metric(server.url, 'loflow_process_nodejs_eventloop_lag_p99_seconds'); // resets the delay histogram
      const samples: SoakSample[] = [];
      const start = performance.now();
      while ((performance.now() - start) / 1000 < duration - 0.001) {
        const secs = Math.min(windowS, duration - (performance.now() - start) / 1000);
        const before = (await health(server.url)).processed;
        const failedBefore = load.failed;
        const t0 = performance.now();
        const sent = await load.run(rate, secs);
        const took = (performance.now() - t0) / 1000;
        const h = await health(server.url);
        const text = await (await fetch(`${server.url}/metrics`)).text();
        const gauge = (name: string) => {
          const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
          return m ? Number(m[1]) : NaN;
        };
        samples.push({
          t: Math.round((performance.now() - start) / 100) / 10,
          rssMiB: await rss(),
          heapMiB: gauge('loflow_process_nodejs_heap_size_used_bytes') / 2 ** 20,
          loopP99ms: gauge('loflow_process_nodejs_eventloop_lag_p99_seconds') * 1000,
          loopMaxMs: gauge('loflow_process_nodejs_eventloop_lag_max_seconds') * 1000,
          latencyP99ms: hist.totalCount ? hist.getValueAtPercentile(99) : NaN,
          latencyP50ms: hist.totalCount ? hist.getValueAtPercentile(50) : NaN,
          offered: sent / took,
          processed: (h.processed - before) / took,
          backlog: h.queue_depth,
          failed: load.failed - failedBefore,
        });
        hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
        const last = samples.at(-1)!;
        if (!ctx.quick) ctx.log(`soak: ${last.t} s RSS ${last.rssMiB.toFixed(0)} MiB heap ${last.heapMiB.toFixed(0)} MiB loop p99 ${last.loopP99ms.toFixed(1)} ms latency p99 ${last.latencyP99ms} ms processed ${Math.round(last.processed)}/s backlog ${last.backlog}`);
      }
      probing = false;
      await probeLoop;

      const verdict = memoryVerdict(samples);
      const pct = (xs: number[], p: number) => {
        const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
        return v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : NaN;
      };
      const note = `${samples.length} windows of ${windowS} s at ${Math.round(rate).toLocaleString('en')} events/s${ctx.quick ? '; --quick: a smoke run, too short for a verdict' : ''}`;
      ctx.figures.push({
        workload: 'soak',
        name: `RSS slope after warm-up (${duration < 120 ? `${Math.round(duration)} s` : `${Math.round(duration / 60)} min`} at ${fixedRate ? `${fixedRate} events/s` : 'half the maximum load'})`,
        value: verdict.slopeMiBPerHour,
        unit: 'MiB/h',
        goal: `memory flat: <= ${FLAT_MIB_PER_HOUR} MiB/h`,
        met: ctx.quick ? undefined : verdict.flat,
        note: `${note}; RSS ${samples[0]?.rssMiB.toFixed(0)} -> ${samples.at(-1)?.rssMiB.toFixed(0)} MiB (max ${Math.max(...samples.map((s) => s.rssMiB)).toFixed(0)})`,
      });
      ctx.figures.push({ workload: 'soak', name: 'event-loop delay p99, worst window', value: Math.max(...samples.map((s) => s.loopP99ms).filter(Number.isFinite)), unit: 'ms', note: `median window ${pct(samples.map((s) => s.loopP99ms), 50).toFixed(1)} ms; max single delay ${Math.max(...samples.map((s) => s.loopMaxMs).filter(Number.isFinite)).toFixed(0)} ms` });
      ctx.figures.push({ workload: 'soak', name: `event-to-dashboard p99, worst window (min_interval ${minInterval} ms)`, value: Math.max(...samples.map((s) => s.latencyP99ms).filter(Number.isFinite)), unit: 'ms', note: `median window ${pct(samples.map((s) => s.latencyP99ms), 50)} ms; first ${samples[0]?.latencyP99ms} ms, last ${samples.at(-1)?.latencyP99ms} ms` });
      ctx.figures.push({ workload: 'soak', name: 'events processed per second, mean over the soak', value: samples.reduce((a, s) => a + s.processed, 0) / Math.max(1, samples.length), unit: 'events/s', baseline: rate, ratio: samples.reduce((a, s) => a + s.processed, 0) / Math.max(1, samples.length) / rate, note: `${samples.reduce((a, s) => a + s.failed, 0)} requests refused; backlog at the end ${samples.at(-1)?.backlog ?? 0}` });
      const minutes = (t: number) => Math.round((t / 60) * 100) / 100;
      ctx.series.push({ title: `soak: memory over time (RSS slope ${verdict.slopeMiBPerHour.toFixed(1)} MiB/h: ${verdict.flat ? 'flat' : 'growing'})`, x: 'minutes', y: 'MiB', points: samples.flatMap((s) => [{ label: 'RSS', x: minutes(s.t), y: s.rssMiB }, { label: 'heap used', x: minutes(s.t), y: s.heapMiB }]) });
      ctx.series.push({ title: 'soak: event-loop delay and event-to-dashboard latency over time', x: 'minutes', y: 'ms', points: samples.flatMap((s) => [{ label: 'event-loop delay p99', x: minutes(s.t), y: s.loopP99ms }, { label: 'event-to-dashboard p99', x: minutes(s.t), y: s.latencyP99ms }].filter((p) => Number.isFinite(p.y))) });
      ctx.soak = { rate, max, duration, windowS, verdict, samples };
    } finally {
      load?.close();
      for (const s of sockets) s.terminate();
      await server.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
