// What an exchange edge costs (docs/scale-out.md §6): the example pipeline with its class-keyed reducers
// (pipelines/examples/writing-observer.exchange.yaml) through an Engine with P = 4 partition tasks, against
// the same pipeline without them (the demo's student-keyed reducers only, P = 4) in the same run: events
// per second until flush, on the memory store and on a throwaway redis-server (free loopback port, no
// persistence, stopped by PID). One process, so the ratio is the cost of re-keying (reduce, fwd, copy, rp
// read, cursor commit), not of more cores.
//
//   npx tsx bench/exchange.ts [events=20000]
import { loadavg } from 'node:os';
import { Classroom } from '../engine/classroom.js';
import { Engine } from '../engine/runtime.js';
import { MemoryStateStore } from '../engine/state/memory-store.js';
import { RedisStateStore } from '../engine/state/redis-store.js';
import type { CompiledPipeline, LoEvent, StateStore } from '../engine/types.js';
import { exchangeDemo } from '../test/cluster/exchange-fixture.js';
import { startRedis } from './servers.js';

const EVENTS = Number(process.argv[2] ?? 20_000);
const events = [...new Classroom({ students: 60, seed: 7 }).events(EVENTS)].map((e) => e.event as LoEvent);

/** Events per second through `pipeline` on `store`, ingest to flush. */
async function rate(pipeline: CompiledPipeline, store: StateStore): Promise<number> {
  const engine = new Engine(pipeline, { store });
  await engine.start();
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += 500) await engine.ingest('extension', structuredClone(events.slice(i, i + 500)));
  await engine.flush();
  const s = (performance.now() - t0) / 1000;
  await engine.stop();
  return EVENTS / s;
}

const stamp = Date.now().toString(36);
const withExchange = (await exchangeDemo(`bx${stamp}`, 4)).pipeline;
// The baseline: the same file without the two class-keyed reducers (no exchange edge).
const without = async (name: string) => {
  const { pipeline } = await exchangeDemo(name, 4);
  return { ...pipeline, reducers: pipeline.reducers.filter((r) => r.placement !== 'exchange') } as CompiledPipeline;
};
const server = await startRedis();
try {
  const url = `redis://127.0.0.1:${server.port}`;
  await rate(await without(`bw${stamp}`), new MemoryStateStore()); // warm-up (JIT), not counted
  const rows: string[] = [];
  for (const [label, store] of [['memory', () => new MemoryStateStore()], ['redis', () => RedisStateStore.connect(url)]] as const) {
    const base = await rate(await without(`bb${label}${stamp}`), await store());
    const ex = await rate(label === 'memory' ? withExchange : (await exchangeDemo(`br${stamp}`, 4)).pipeline, await store());
    rows.push(`${label}: without exchange ${Math.round(base)} events/s, with 2 exchange reducers ${Math.round(ex)} events/s, ratio ${(ex / base).toFixed(2)}`);
  }
  console.log(`exchange bench, ${EVENTS} events, P = 4, one process, load average ${loadavg()[0].toFixed(1)}`);
  for (const r of rows) console.log(r);
} finally {
  await server.stop();
}
