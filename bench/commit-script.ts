// Scale-out design check (docs/scale-out.md §5.4): the fenced, compare-and-set commit as a Lua script against
// today's MULTI{MSET, SET offset} commit, on a throwaway redis-server (free loopback port, stopped by PID).
// First the script's answers (OK, DONE for a repeated batch, CONFLICT for a wrong base, FENCED for a stale
// token, and that a refused commit changed nothing), then the cost of both commit forms: commits of 500 state
// writes, one after another as a partition task makes them; wall time and redis-server CPU per commit.
//
//   npx tsx bench/commit-script.ts [commits=400]
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startRedis } from './servers.js';

const COMMITS = Number(process.argv[2] ?? 400);
const WRITES = 500;

// KEYS: lease, cur, chg, then the state keys.  ARGV: token, in_from, in_to, clock, changed, then one state per key.
const COMMIT_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return {'FENCED', redis.call('HGET', KEYS[1], 'owner') or '', redis.call('HGET', KEYS[1], 'epoch') or ''}
end
local cur = tonumber(redis.call('HGET', KEYS[2], 'in') or '0')
local from, to = tonumber(ARGV[2]), tonumber(ARGV[3])
if cur == to and to ~= from then return {'DONE'} end
if cur ~= from then return {'CONFLICT', tostring(cur)} end
-- One MSET per 1,000 arguments (fewer calls out of Lua than a SET per key; unpack's limit is far above).
local args = {}
for i = 4, #KEYS do
  args[#args + 1] = KEYS[i]; args[#args + 1] = ARGV[i + 2]
  if #args >= 1000 then redis.call('MSET', unpack(args)); args = {} end
end
if #args > 0 then redis.call('MSET', unpack(args)) end
local clock = tonumber(redis.call('HGET', KEYS[2], 'clock') or '0')
redis.call('HSET', KEYS[2], 'in', to, 'clock', math.max(clock, tonumber(ARGV[4])))
if ARGV[5] ~= '' then redis.call('XADD', KEYS[3], 'MAXLEN', '~', 10000, '*', 'g', ARGV[5], 'to', to) end
return {'OK'}`;

const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local l = redis.call('HMGET', KEYS[1], 'owner', 'until', 'epoch')
if l[1] and l[1] ~= '' and l[1] ~= ARGV[1] and tonumber(l[2]) > now then return {'HELD', l[1], l[2]} end
local token = ARGV[3]
local epoch = tonumber(l[3] or '0') + 1
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token, 'epoch', epoch, 'until', now + tonumber(ARGV[2]))
return {'OK', token, tostring(epoch), redis.call('HGET', KEYS[2], 'in') or '0'}`;

const tag = '{bench:p7}';
const lease = `lf:${tag}:lease`;
const cur = `lf:${tag}:cur`;
const chg = `lf:${tag}:chg`;
const stateKeys = Array.from({ length: WRITES }, (_, i) => `lf:${tag}:s:events:v1:s-${String(i).padStart(4, '0')}`);
const state = (n: number) => JSON.stringify({ n, sum: n * 3.5, last: 1_764_000_000_000 + n });

const server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
const port = server.port;
const cpu = () => {
  const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
try {
  const redis = new Redis({ port, host: '127.0.0.1' });
  const commit = (token: string, from: number, to: number, n: number) =>
    redis.eval(COMMIT_LUA, 3 + WRITES, lease, cur, chg, ...stateKeys, token, from, to, 1000 + n, JSON.stringify({ overview: ['c-1'] }), ...stateKeys.map(() => state(n))) as Promise<string[]>;

  // Semantics.
  const a = (await redis.eval(ACQUIRE_LUA, 2, lease, cur, 'w-a', 3000, 'tok-a')) as string[];
  const held = (await redis.eval(ACQUIRE_LUA, 2, lease, cur, 'w-b', 3000, 'tok-b')) as string[];
  const ok = await commit('tok-a', 0, 100, 1);
  const done = await commit('tok-a', 0, 100, 1);
  const conflict = await commit('tok-a', 50, 150, 2);
  await redis.hset(lease, 'until', 0); // the lease expires: w-b takes over
  const b = (await redis.eval(ACQUIRE_LUA, 2, lease, cur, 'w-b', 3000, 'tok-b')) as string[];
  const fenced = await commit('tok-a', 100, 200, 3);
  const after = await redis.hget(cur, 'in');
  const stateAfter = await redis.get(stateKeys[0]);
  console.log(`acquire w-a: ${a.join(' ')} | acquire w-b while held: ${held[0]} | commit: ${ok[0]} | same batch again: ${done[0]} | wrong base: ${conflict.join(' ')}`);
  console.log(`after expiry, acquire w-b: ${b.join(' ')} | stale w-a commit: ${fenced.join(' ')} | cursor still ${after}, state still n=${JSON.parse(stateAfter!).n}`);

  // Cost: COMMITS commits of WRITES states, script vs today's MULTI{MSET, SET offset, SET clock}.
  await redis.eval(ACQUIRE_LUA, 2, lease, cur, 'w-b', 600_000, 'tok-c');
  const sha = (await redis.script('LOAD', COMMIT_LUA)) as string;
  let base = Number(after);
  let c0 = cpu();
  let t0 = performance.now();
  for (let n = 0; n < COMMITS; n++) {
    const r = (await redis.evalsha(sha, 3 + WRITES, lease, cur, chg, ...stateKeys, 'tok-c', base, base + 4096, 2000 + n, JSON.stringify({ overview: ['c-1'] }), ...stateKeys.map(() => state(n)))) as string[];
    if (r[0] !== 'OK') throw new Error(r.join(' '));
    base += 4096;
  }
  const script = { ms: (performance.now() - t0) / COMMITS, cpu: ((cpu() - c0) * 1e6) / COMMITS };
  c0 = cpu();
  t0 = performance.now();
  for (let n = 0; n < COMMITS; n++) {
    const args: string[] = [];
    for (const k of stateKeys) args.push(k, state(n));
    await redis.multi().mset(...args).set(`lf:${tag}:offset`, String(n * 4096)).set(`lf:${tag}:clock`, String(n)).exec();
  }
  const multi = { ms: (performance.now() - t0) / COMMITS, cpu: ((cpu() - c0) * 1e6) / COMMITS };
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  console.log(`| commit of ${WRITES} states | wall ms/commit | redis-server CPU µs/commit | µs/state |`);
  console.log('|---|---|---|---|');
  console.log(`| commit.lua (token check, cursor CAS, MSET, HSET cur, XADD chg) | ${script.ms.toFixed(2)} | ${script.cpu.toFixed(0)} | ${(script.cpu / WRITES).toFixed(2)} |`);
  console.log(`| MULTI{MSET, SET offset, SET clock} (today) | ${multi.ms.toFixed(2)} | ${multi.cpu.toFixed(0)} | ${(multi.cpu / WRITES).toFixed(2)} |`);
  redis.disconnect();
} finally {
  await server.stop();
}
