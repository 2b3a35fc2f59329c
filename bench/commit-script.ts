// The fenced commit (docs/scale-out.md §5.4) as shipped: RedisStateStore.commit runs engine/state/scripts.ts's
// commit.lua with EVALSHA, against the MULTI{MSET, SET offset, SET clock} commit of layout 1, on a throwaway
// redis-server (free loopback port, AOF everysec, stopped by PID). First the script's answers (OK, DONE for a
// repeated batch, CONFLICT for a wrong base, FENCED for a stale holder, and that a refused commit changed
// nothing), then the cost of both forms: commits of 500 state writes one after another, as a partition task
// makes them; wall time and redis-server CPU per commit.
//
//   npx tsx bench/commit-script.ts [commits=400]
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { curKey, leaseKey, stateKey } from '../engine/state/key-layout.js';
import { RedisStateStore } from '../engine/state/redis-store.js';
import type { Commit, StateRef } from '../engine/types.js';
import { cpuSeconds, startRedis } from './servers.js';

const COMMITS = Number(process.argv[2] ?? 400);
const WRITES = 500;
const pipeline = 'bench';
const refs: StateRef[] = Array.from({ length: WRITES }, (_, i) => ({ pipeline, reducer: 'events', version: 'v1', key: `s-${String(i).padStart(4, '0')}` }));
const state = (n: number) => ({ n, sum: n * 3.5, last: 1_764_000_000_000 + n });
const batch = (from: number, to: number, n: number): Commit => ({ pipeline, from, offset: to, clock: 1000 + n, writes: refs.map((r) => [r, state(n)]) });
const answer = (p: Promise<unknown>) => p.then((a) => String(a).toUpperCase(), (e: { code?: string; message: string }) => `${e.code} (${e.message.slice(0, 60)}…)`);

const server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
const cpu = () => cpuSeconds(server.pid);
try {
  const raw = new Redis({ port: server.port, host: '127.0.0.1' });
  const a = await RedisStateStore.connect(server.url);
  const b = await RedisStateStore.connect(server.url);

  // Semantics.
  const ea = await a.acquire(pipeline);
  const ok = await answer(a.commit(batch(0, 100, 1)));
  const done = await answer(a.commit(batch(0, 100, 1)));
  const conflict = await answer(a.commit(batch(50, 150, 2)));
  await raw.hset(leaseKey(pipeline), 'until', 0); // a's lease expires (a paused): b takes over
  const eb = await b.acquire(pipeline);
  const fenced = await answer(a.commit(batch(100, 200, 3)));
  const after = await raw.hget(curKey(pipeline), 'in');
  const stateAfter = JSON.parse((await raw.get(stateKey(refs[0])))!) as { n: number };
  console.log(`acquire a: epoch ${ea.epoch} | commit: ${ok} | same batch again: ${done} | wrong base: ${conflict}`);
  console.log(`after expiry, acquire b: epoch ${eb.epoch} | stale a commit: ${fenced} | cursor still ${after}, state still n=${stateAfter.n}`);

  // Cost: COMMITS commits of WRITES states, commit.lua (through the store) vs layout 1's MULTI.
  let base = Number(after);
  let c0 = cpu();
  let t0 = performance.now();
  for (let n = 0; n < COMMITS; n++, base += 4096) if ((await b.commit(batch(base, base + 4096, n))) !== 'ok') throw new Error('not ok');
  const script = { ms: (performance.now() - t0) / COMMITS, cpu: ((cpu() - c0) * 1e6) / COMMITS };
  c0 = cpu();
  t0 = performance.now();
  const keys = refs.map(stateKey);
  for (let n = 0; n < COMMITS; n++) {
    const args: string[] = [];
    for (const k of keys) args.push(k, JSON.stringify(state(n)));
    await raw.multi().mset(...args).set(`lf:{${pipeline}}:offset`, String(n * 4096)).set(`lf:{${pipeline}}:clock`, String(n)).exec();
  }
  const multi = { ms: (performance.now() - t0) / COMMITS, cpu: ((cpu() - c0) * 1e6) / COMMITS };
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  console.log(`| commit of ${WRITES} states | wall ms/commit | redis-server CPU µs/commit | µs/state |`);
  console.log('|---|---|---|---|');
  console.log(`| commit.lua via RedisStateStore.commit (token check, cursor check, MSET, HSET cur) | ${script.ms.toFixed(2)} | ${script.cpu.toFixed(0)} | ${(script.cpu / WRITES).toFixed(2)} |`);
  console.log(`| MULTI{MSET, SET offset, SET clock} (layout 1) | ${multi.ms.toFixed(2)} | ${multi.cpu.toFixed(0)} | ${(multi.cpu / WRITES).toFixed(2)} |`);
  await Promise.all([a.close(), b.close()]);
  raw.disconnect();
} finally {
  await server.stop();
}
