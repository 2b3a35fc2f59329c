// `loflow bench --only scale-ingest` (issue #12: the ingest-node and dashboard-across-nodes figures of
// `bench --only scale`; the scale bench calls this workload). Two measurements, each against a baseline in
// the same run:
//  1. An ingest node (`serve --role ingest`: parse, validate, route, ingest.lua into Redis, answer once Redis
//     has it; durability local = AOF everysec) against a bare node:http server that only parses the same JSON
//     bodies. Goal: >= 0.5x.
//  2. Event -> dashboard latency (p50/p99) across nodes (POST to an ingest node, a worker process applies it
//     from the Redis log, commit.lua appends to chg, a dashboard node re-reads and pushes the delta) against
//     the single process (`--role all` on the same Redis). All in this one process: the nodes share its CPU,
//     so the cross-node figure includes their contention, not network hops.
import hdr from 'hdr-histogram-js';
import { Classroom } from '../engine/classroom.js';
import { MemoryDeadLetterStore } from '../engine/deadletter/memory-deadletter.js';
import { RedisInputLog } from '../engine/log/redis-log.js';
import { Engine } from '../engine/runtime.js';
import { followLogs } from '../engine/runtime/log-follower.js';
import { startServer } from '../engine/server/index.js';
import { DashboardNode } from '../engine/server/roles/dashboard-node.js';
import { IngestNode } from '../engine/server/roles/ingest-node.js';
import { RedisStateStore } from '../engine/state/redis-store.js';
import type { CompiledPipeline } from '../engine/types.js';
import { cannon } from './cannon.js';
import { demo } from './fixtures.js';
import { cpuSeconds, startRedis } from './servers.js';
import { bareServer } from './bare-server.js';
import { latencies } from './latency-probe.js';
import type { Ctx } from './types.js';


const quiet = { level: 'warn' } as const;

async function ingestRate(ctx: Ctx, redisUrl: string, redisPid: number, pipeline: CompiledPipeline): Promise<void> {
  const seconds = ctx.quick ? 3 : 10;
  const size = 100;
  const connections = 10;
  const events = [...new Classroom({ students: 200, seed: size }).events(size)].map((e) => e.event);
  const bodies = Array.from({ length: 64 }, (_, v) => JSON.stringify(events.map((e) => (typeof e.doc_id === 'string' ? { ...e, doc_id: `${e.doc_id}-v${v}` } : e))));
  const bare = await bareServer();
  const b = await cannon(bare.url, bodies, connections, seconds, ctx.dir);
  await bare.close();
  const store = await RedisStateStore.connect(redisUrl);
  const named = { ...pipeline, name: `bench-ingest-${Date.now()}` };
  const node = new IngestNode(named, store, new MemoryDeadLetterStore(), { redis: store.redis, durability: 'local' });
  const s = await startServer({ pipeline: named, engine: node.asEngine(), serves: { ingest: true, dashboards: false }, port: 0, limits: { ratePerSec: Infinity }, logger: (await import('pino')).pino(quiet) });
  // The load comes from a child process, so this process's CPU is the ingest node's (capacity model, README).
  const [cpu0, redis0] = [process.cpuUsage(), cpuSeconds(redisPid)];
  const l = await cannon(`${s.url}/v1/events`, bodies, connections, seconds, ctx.dir);
  const nodeCpu = process.cpuUsage(cpu0);
  const redisCpu = cpuSeconds(redisPid) - redis0;
  await s.stop();
  await node.stop();
  const appended = await store.redis.xlen(`lf:{${named.name}}:in`);
  await store.close();
  const ev = l.rps * size;
  ctx.figures.push({
    workload: 'scale-ingest',
    name: `ingest node (serve --role ingest), POST ${size} events/batch, ${connections} conns, durability local (AOF everysec) (p50 ${l.p50} ms, p99 ${l.p99} ms; bare p99 ${b.p99} ms)`,
    value: ev,
    unit: 'events/s',
    baseline: b.rps * size,
    ratio: ev / (b.rps * size),
    goal: '>= 0.5 of the bare node:http baseline',
    met: ev / (b.rps * size) >= 0.5,
    note: `${appended.toLocaleString('en')} events in the stream${l.non2xx ? `; ${l.non2xx} non-2xx answers` : ''}`,
  });
  if (appended > 0) {
    ctx.figures.push({ workload: 'scale-ingest', name: 'ingest node CPU per event appended', value: (nodeCpu.user + nodeCpu.system) / appended, unit: 'µs' });
    ctx.figures.push({ workload: 'scale-ingest', name: 'Redis CPU per event appended (ingest.lua, AOF everysec)', value: (redisCpu * 1e6) / appended, unit: 'µs' });
  }
}


async function dashboardLatency(ctx: Ctx, redisUrl: string, base: CompiledPipeline): Promise<void> {
  const n = ctx.quick ? 100 : 300;
  const pipeline = { ...base, dashboards: new Map([...base.dashboards].map(([k, d]) => [k, { ...d, minIntervalMs: 50 }])) };
  const auth = { teacherTokens: { t: 't-ada' } };
  const logger = (await import('pino')).pino(quiet);
  const single = async (): Promise<hdr.Histogram> => {
    const named = { ...pipeline, name: `bench-lat1-${Date.now()}` };
    const store = await RedisStateStore.connect(redisUrl);
    const { log } = await RedisInputLog.open(store.redis, named.name, 'none');
    const engine = new Engine(named, { store, log });
    await engine.start();
    const s = await startServer({ pipeline: named, engine, port: 0, auth, logger });
    const h = await latencies(s.url, s.url, n);
    await s.stop();
    await engine.stop();
    return h;
  };
  const across = async (): Promise<hdr.Histogram> => {
    const named = { ...pipeline, name: `bench-latn-${Date.now()}` };
    const [ws, is, ds] = await Promise.all([RedisStateStore.connect(redisUrl), RedisStateStore.connect(redisUrl), RedisStateStore.connect(redisUrl)]);
    const { log } = await RedisInputLog.open(ws.redis, named.name, 'none');
    const engine = new Engine(named, { store: ws, log });
    await engine.start();
    const follower = followLogs(engine, ws.redis, [named.name]);
    const ingest = new IngestNode(named, is, new MemoryDeadLetterStore(), { redis: is.redis, durability: 'none' });
    const dash = await DashboardNode.open(named, ds, new MemoryDeadLetterStore());
    const si = await startServer({ pipeline: named, engine: ingest.asEngine(), serves: { ingest: true, dashboards: false }, port: 0, logger });
    const sd = await startServer({ pipeline: named, engine: dash.asEngine(), serves: { ingest: false, dashboards: true }, port: 0, auth, logger });
    const h = await latencies(si.url, sd.url, n);
    await Promise.all([si.stop(), sd.stop()]);
    follower.stop();
    await dash.stop();
    await ingest.stop();
    await engine.stop();
    await Promise.all([is.close(), ds.close()]);
    return h;
  };
  const one = await single();
  const many = await across();
  for (const p of [50, 99]) {
    const base1 = one.getValueAtPercentile(p);
    const v = many.getValueAtPercentile(p);
    ctx.figures.push({ workload: 'scale-ingest', name: `event-to-dashboard p${p} across nodes (ingest node -> worker -> chg -> dashboard node; min_interval 50 ms, one process)`, value: v, unit: 'ms', baseline: base1, ratio: v / base1, note: `single process (--role all, same Redis, Redis log): ${base1} ms; added: ${v - base1} ms` });
  }
}

export const scaleIngest = {
  name: 'scale-ingest',
  async run(ctx: Ctx) {
    const pipeline = await demo();
    const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
    try {
      await ingestRate(ctx, redis.url, redis.pid, pipeline);
      await dashboardLatency(ctx, redis.url, pipeline);
    } finally {
      await redis.stop();
    }
  },
};
