// Dashboard latency against load. `loflow serve` runs as a child (its own core); this process is the load
// generator: batches of typing events POSTed for every student (a WebSocket frame per event costs the
// generator more than the server, so it could not offer the server's maximum), a probe student typing over
// its WebSocket, and a teacher watching every class. First the maximum rate is found (sending flat out,
// events processed per second, then that rate offered steadily: what the server holds), then load is
// offered in steps as a fraction of the rate held; at each step we measure
// what was processed, event-to-dashboard latency (probe events until the probe's row shows them, hdr
// histogram) and the push interval: the hub's adaptive interval (/metrics) and the spacing of the pushes a
// teacher sees. Overload should show as a longer interval (dashboards refresh less often), not as latency
// that grows without bound.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import type WebSocket from 'ws';
import { rosterCsv } from '../engine/classroom.js';
import { demoFile } from './fixtures.js';
import { longTasks } from './long-tasks.js';
import { profileInDir } from './profile.js';
import { health, metric, startServe } from './serve-child.js';
import { freePort } from './servers.js';
import type { Ctx } from './types.js';
import { studentSockets, watch, type DashboardRow } from './ws-clients.js';
import { HttpLoad } from './http-load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Step {
  fraction: number;
  offered: number;
  processed: number;
  p50: number;
  p99: number;
  probes: number;
  /** Highest effective push interval the hub reported during the step (ms). */
  hubInterval: number;
  /** Mean time between pushes the probe's teacher received (ms). */
  pushGap: number;
  /** The hub's mean tick during the step (ms, from /metrics): over half the interval makes the interval grow. */
  tickMs: number;
  backlog: number;
  /** Events the archive's writer had not taken at the step's end. */
  archiveBacklog: number;
  /** Load requests not answered 200 during the step. */
  failed: number;
  /**
   * This process's own event-loop delay p99 (ms): the probe's receive time is taken here, so a stall of the
   * generator (GC of a heap left by earlier workloads of the run, its own load) would count as latency.
   */
  benchLoopP99: number;
  /** The longest such stall during the step (ms): one stall delays every probe answered within it. */
  benchLoopMax: number;
  /** This process's heap at the step's end (MiB). */
  benchHeapMiB: number;
  /** 1-minute load average at the step's end (the machine is shared: a busy one stretches every wall time). */
  load: number;
}

export const dashboardLoad = {
  name: 'dashboard-load',
  async run(ctx: Ctx) {
    const students = ctx.quick ? 200 : 1000;
    const minInterval = 20;
    const classes = Math.ceil(students / 25);
    // Under the run's folder (removed when the run ends); this workload's part goes as soon as it is done.
    const dir = mkdtempSync(join(ctx.dir, 'dash-'));
    const csv = rosterCsv(students, classes);
    writeFileSync(join(dir, 'roster.csv'), csv);
    // The demo pipeline with a 20 ms push interval: a push waits for the next tick, so the interval is a floor
    // under the latency (the demo's 500 ms would make a < 50 ms p99 impossible by construction).
    const yaml = readFileSync(demoFile, 'utf8').replace('rosters/demo.csv', 'roster.csv').replace(/min_interval: \d+ms/, `min_interval: ${minInterval}ms`);
    writeFileSync(join(dir, 'p.yaml'), yaml);
    const classTeacher = new Map(csv.trim().split('\n').slice(1).map((l) => l.split(',')).map(([, c, t]) => [c, t]));
    // Ingest keys: the rate limit is per key (20,000 events/s), so the load spreads over 32 of them.
    const keys = Array.from({ length: 32 }, (_, i) => `bench-key-${i}`);
    // The server runs under the sampling profiler (about 1 sample a millisecond; a small cost), so the report
    // can say where a live server's time goes.
    const profDir = mkdtempSync(join(dir, 'prof-'));
    const server = await startServe(join(dir, 'p.yaml'), await freePort(), ['--data', join(dir, 'data'), '--demo-tokens', '--demo'], { LOFLOW_API_KEYS: keys.join(',') }, ['--cpu-prof', '--cpu-prof-dir', profDir]);
    const base = server.url.replace('http', 'ws');
    const sockets: WebSocket[] = [];
    const watchers: WebSocket[] = [];
    let load: HttpLoad | undefined;
    try {
      const ids = Array.from({ length: students }, (_, i) => `s-${String(i).padStart(4, '0')}`);
      const [probeSocket] = await studentSockets(base, ids.slice(0, 1), keys[0]); // s-0000, in class-a: probe events only (WebSocket sources need an ingest key too)
      sockets.push(probeSocket);
      const loadIds = ids.slice(1);
      // The probe's teacher: the count of s-0000's events on the dashboard says which probes are visible.
      const sentAt: number[] = []; // send times of this step's probes, in order
      let seen = 0;
      let hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
      let pushTimes: number[] = [];
      let probeBase = 0;
      // The hub's effective interval, as every push to the probe's teacher states it (scraping /metrics for
      // it 4 times a second cost the server ~2% of its main thread, measured into the latency).
      let hubInterval = 0;
      const onProbeDelta = (rows: DashboardRow[], intervalMs: number) => {
        const now = performance.now();
        pushTimes.push(now);
        if (intervalMs > hubInterval) hubInterval = intervalMs;
        const row = rows.find((r) => r.member === 's-0000');
        if (!row) return;
        const visible = Number(row.events) - probeBase;
        for (; seen < visible && seen < sentAt.length; seen++) hist.recordValue(Math.max(1, Math.round(now - sentAt[seen])));
      };
      const probeWatch = await watch(`${base}/v1/dashboards/overview/class-a/live?token=demo-${classTeacher.get('class-a')}`, onProbeDelta);
      probeBase = Number(probeWatch.snapshot.find((r) => r.member === 's-0000')?.events ?? 0);
      watchers.push(probeWatch.ws);
      for (const [c, t] of classTeacher) if (c !== 'class-a') watchers.push((await watch(`${base}/v1/dashboards/overview/${c}/live?token=demo-${t}`, () => {})).ws);

      const probeCount = async () => {
        const snap = (await (await fetch(`${server.url}/v1/dashboards/overview/class-a?token=demo-${classTeacher.get('class-a')}`)).json()) as { rows: DashboardRow[] };
        return Number(snap.rows.find((r) => r.member === 's-0000')?.events ?? 0);
      };
      const frame = (doc: number) => `{"event":"keystroke","ts":${Date.now()},"doc_id":"d${doc}","keystroke":{"type":"keydown","key":"a"}}`;
      const drained = async (limitMs: number) => {
        const end = performance.now() + limitMs;
        while (performance.now() < end) {
          const h = await health(server.url);
          // The archive's writer too: the flat-out phases leave it behind, and a step that starts while it
          // catches up measures that (past its lag limit, processing waits for it), not the step's load.
          if (h.queue_depth === 0 && !h.archive_backlog && seen >= sentAt.length) return h;
          await sleep(50);
        }
        return health(server.url);
      };

      // 1. Maximum: sending flat out (64 requests in flight), events processed per second over the window.
      // A first round warms the server up (JIT) and is not counted.
      load = new HttpLoad(`${server.url}/v1/events`, loadIds, keys);
      /** Events processed per second while `rate` is offered (Infinity: flat out), then drained. */
      const processedAt = async (rate: number, seconds: number) => {
        const before = (await health(server.url)).processed;
        const t0 = performance.now();
        await load!.run(rate, seconds);
        const r = ((await health(server.url)).processed - before) / ((performance.now() - t0) / 1000);
        await drained(30_000);
        return r;
      };
      const flood = (seconds: number) => processedAt(Infinity, seconds);
      await flood(ctx.quick ? 1 : 2);
      const flatOut = await flood(ctx.quick ? 2 : 5);
      ctx.figures.push({ workload: 'dashboard-load', name: `maximum ingest (POST /v1/events, ${HttpLoad.batch}-event batches for ${loadIds.length} students, flat out; loflow serve in its own process, under the sampling profiler)`, value: flatOut, unit: 'events/s' });
      // Flat out, 64 requests in flight keep every batch full; offered at a steady rate the server may hold
      // less (96,500 flat out against 68,000 held in one run of 2026-12-03): "half the maximum" would then be
      // near capacity, and the steps' fractions would mean different loads from run to run. The maximum the
      // steps use is the rate held when offered steadily: offered at the flat-out rate, what was processed.
      const sustained = Math.min(flatOut, await processedAt(flatOut, ctx.quick ? 2 : 5));
      const max = sustained;
      ctx.figures.push({ workload: 'dashboard-load', name: 'maximum ingest held (offered at the flat-out rate, steadily: what was processed; the steps below are fractions of it)', value: sustained, unit: 'events/s', baseline: flatOut, ratio: sustained / flatOut });
      await drained(10_000);

      // 2. Offered load in steps, each a fraction of that maximum.
      const fractions = ctx.quick ? [0.25, 0.5, 1, 1.5] : [0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2];
      // 10 s a step: 500 probes, so the p99 is the 5th worst, not the 2nd or 3rd (a 5 s step's p99 moved by
      // 30-60 ms from run to run). Each step starts from the previous one's drained server: its first half
      // second holds the onset (load arriving at once), which counts, as it does for a class starting to type.
      const seconds = ctx.quick ? 2 : 10;
      const steps: Step[] = [];
      for (const fraction of fractions) {
        const rate = max * fraction;
        hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
        pushTimes = [];
        probeBase = await probeCount();
        sentAt.length = 0;
        seen = 0;
        hubInterval = 0;
        // The probes' answers are timed in this process: garbage of the run's earlier workloads (a heap of
        // ~360 MiB by now) collected during a step would stall it and count as latency. Collected here instead
        // (`loflow bench` runs with --expose-gc).
        (globalThis as { gc?: () => void }).gc?.();
        const tickSum = async () => [(await metric(server.url, 'loflow_dashboard_tick_seconds_sum')) ?? 0, (await metric(server.url, 'loflow_dashboard_tick_seconds_count')) ?? 0];
        const [sum0, count0] = await tickSum();
        const start = (await health(server.url)).processed;
        const loopDelay = monitorEventLoopDelay({ resolution: 5 });
        loopDelay.enable();
        const tStart = performance.now();
        // The batch load runs alongside a probe every 20 ms (ticks of the same loop would be late under load).
        const probing = (async () => {
          for (let k = 0; performance.now() - tStart < seconds * 1000; k++) {
            sentAt.push(performance.now());
            probeSocket.send(frame(0));
            await sleep(Math.max(0, tStart + (k + 1) * 20 - performance.now()));
          }
        })();
        const failedBefore = load.failed;
        const sent = await load.run(rate, seconds);
        await probing;
        const took = (performance.now() - tStart) / 1000;
        loopDelay.disable();
        const [sum1, count1] = await tickSum();
        const atEnd = await health(server.url);
        const processed = (atEnd.processed - start) / took;
        const h = await drained(30_000);
        const sampled = hubInterval;
        const gaps = pushTimes.slice(1).map((t, i) => t - pushTimes[i]);
        const step: Step = {
          fraction,
          offered: (sent + sentAt.length) / took,
          processed,
          p50: hist.getValueAtPercentile(50),
          p99: hist.getValueAtPercentile(99),
          probes: Number(hist.totalCount),
          hubInterval: sampled,
          pushGap: gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN,
          tickMs: count1 > count0 ? ((sum1 - sum0) / (count1 - count0)) * 1000 : NaN,
          backlog: atEnd.queue_depth,
          archiveBacklog: atEnd.archive_backlog ?? 0,
          failed: load.failed - failedBefore,
          benchLoopP99: Math.max(0, loopDelay.percentile(99) / 1e6 - 5), // past its 5 ms timer
          benchLoopMax: Math.max(0, loopDelay.max / 1e6 - 5),
          benchHeapMiB: process.memoryUsage().heapUsed / 2 ** 20,
          load: loadavg()[0],
        };
        steps.push(step);
        ctx.log(`dashboard-load: ${Math.round(fraction * 100)}% offered ${Math.round(step.offered)}/s processed ${Math.round(processed)}/s p50 ${step.p50} p99 ${step.p99} hub ${sampled} ms (tick ${step.tickMs.toFixed(1)} ms) gap ${step.pushGap.toFixed(0)} ms backlog ${step.backlog} (drained: ${h.queue_depth}); bench loop p99 ${step.benchLoopP99.toFixed(0)} ms (max ${step.benchLoopMax.toFixed(0)}), heap ${step.benchHeapMiB.toFixed(0)} MiB, load ${step.load.toFixed(1)}`);
      }
      for (const s of steps) {
        const atHalf = s.fraction === 0.5;
        ctx.figures.push({
          workload: 'dashboard-load',
          name: `${Math.round(s.fraction * 100)}% of max offered (${Math.round(s.offered).toLocaleString('en')} events/s): event-to-dashboard p99 (min_interval ${minInterval} ms, ${classes} classes watched)`,
          value: s.p99,
          unit: 'ms',
          note: `p50 ${s.p50} ms over ${s.probes} probes; processed ${Math.round(s.processed).toLocaleString('en')} events/s; backlog at step end ${s.backlog.toLocaleString('en')} (archive writer ${s.archiveBacklog.toLocaleString('en')}); hub interval up to ${s.hubInterval} ms (mean tick ${s.tickMs.toFixed(1)} ms); pushes seen every ${s.pushGap.toFixed(0)} ms${s.failed ? `; ${s.failed} requests refused` : ''}; load generator (this process): event-loop delay p99 ${s.benchLoopP99.toFixed(0)} ms, max ${s.benchLoopMax.toFixed(0)} ms, heap ${s.benchHeapMiB.toFixed(0)} MiB; load average ${s.load.toFixed(1)} on ${availableParallelism()} cores`,
          goal: atHalf ? '< 50 ms at half the maximum load' : undefined,
          met: atHalf ? s.p99 < 50 : undefined,
        });
      }
      const pct = (s: Step) => Math.round(s.fraction * 100);
      ctx.series.push({
        title: 'ingest: throughput vs offered load (loflow serve, demo pipeline)',
        x: 'offered load, % of the measured maximum',
        y: 'events/s',
        points: steps.flatMap((s) => [
          { label: 'offered', x: pct(s), y: s.offered },
          { label: 'processed', x: pct(s), y: s.processed },
        ]),
      });
      ctx.series.push({
        title: 'event-to-dashboard latency vs offered load',
        x: 'offered load, % of the measured maximum',
        y: 'ms',
        points: steps.flatMap((s) => [
          { label: 'p50', x: pct(s), y: s.p50 },
          { label: 'p99', x: pct(s), y: s.p99 },
        ]),
      });
      ctx.series.push({
        title: 'dashboard push interval vs offered load',
        x: 'offered load, % of the measured maximum',
        y: 'ms',
        points: steps.flatMap((s) => [
          { label: 'hub effective interval (max)', x: pct(s), y: s.hubInterval },
          { label: 'mean gap between pushes seen', x: pct(s), y: s.pushGap },
        ]),
      });
    } finally {
      load?.close();
      for (const w of [...watchers, ...sockets]) w.terminate();
      await server.kill('SIGTERM');
    }
    // Written when the server exits.
    ctx.profiles.push({ title: `loflow serve (demo pipeline with its archive, ${students} students, ${classes} classes watched) through every load step`, ...profileInDir(profDir, 10) });
    // What holds the loop long enough to make the p99 tail (a push waits for the stretch to end).
    for (const t of longTasks(profDir, 30, 3)) ctx.figures.push({ workload: 'dashboard-load', name: `longest event-loop stretches without idle (server, at ${t.at} s)`, value: t.ms, unit: 'ms', note: `inside ${t.inside}; self: ${t.self.map(([p, f]) => `${p}% ${f}`).join(', ')}` });
    rmSync(dir, { recursive: true, force: true });
  },
};
