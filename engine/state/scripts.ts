// The Lua scripts of Redis layout 2 (docs/scale-out.md §5). Every key a script touches carries one
// partition's hash tag, so each runs atomically on whichever Redis Cluster node holds that slot. ioredis
// sends them with EVALSHA and falls back to EVAL on NOSCRIPT (a restarted or failed-over Redis), which is
// safe because every script is idempotent for a repeated call (commit answers DONE, acquire re-acquires).
import { FWDDONE_LUA, RPADD_LUA } from './exchange-scripts.js';

/**
 * commit.lua: a batch's states, composite-key index, cursor, clock, outbox and dead letters, all or nothing,
 * and only for the current lease holder (the fence) on top of the cursor the batch was computed from.
 *   KEYS: lease, cur, outbox, dl, fwd, <nw state keys>, <ni index keys>, in, chg
 *   ARGV: token, from ('' = no base check: maintenance writes), to, clock ('' = keep), outbox_done (count),
 *         outbox entry ('' = none), nw, ni, apply ('' = keep), nr, the batch's last input entry id ('' = no
 *         check) and its arrival time as read ('-' = none there), nr × (source M, rp from id, rp to id),
 *         nf, nf × (to, reducer, key, o, t, event JSON), <nw state JSON>, per index key: count c then c
 *         (score, member) pairs, changed keys JSON ('' = none), then dead letters (JSON, one each)
 * Exchange edges (docs/scale-out.md §6): each rp:<M> cursor is compared and set like `in` (DONE / CONFLICT);
 * the items for other partitions go into fwd here, so they exist exactly when the batch that made them does.
 * The changed keys ({reducer: [key…]}) go to the partition's chg stream (MAXLEN ~ 1,000) with the clock and
 * the cursor: dashboard nodes read it to know which committed states to re-read (docs/scale-out.md §7).
 * Each entry is numbered (cur.chgn, +1 per entry): a reader that finds a number skipped knows the cap trimmed
 * entries it had not read, and re-reads everything it shows instead of missing those changes.
 * Records the commit's Redis TIME (ms) in cur.at, for `cluster status` (a stuck partition shows its age).
 * Answers: {'OK'} | {'DONE'} (this very batch is committed already: a lost reply) |
 *          {'FENCED', owner, epoch} (another holder's token: nothing written) |
 *          {'CONFLICT', stored cursor} or {'CONFLICT', stored cursor, 'rp:<M>', stored rp id} |
 *          {'DIVERGED', stored cursor, arrival time here or '-'}: this node's input log does not hold the
 *          entry the batch ended with (a failover or a split's minority primary dropped the entries the batch
 *          was read from, and its retried commit reached the promoted replica): nothing written.
 */
export const COMMIT_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  local l = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
  return {'FENCED', l[1] or '', l[2] or '0'}
end
local stored = tonumber(redis.call('HGET', KEYS[2], 'in') or '0')
if ARGV[2] ~= '' then
  local from, to = tonumber(ARGV[2]), tonumber(ARGV[3])
  if stored == to and to ~= from then return {'DONE'} end
  if stored ~= from then return {'CONFLICT', tostring(stored)} end
end
if ARGV[11] ~= '' then
  local r = redis.call('XRANGE', KEYS[#KEYS - 1], ARGV[11], ARGV[11])
  local t = '-'
  if #r > 0 then
    local f = r[1][2]
    for j = 1, #f, 2 do if f[j] == 't' then t = f[j + 1] end end
  end
  if t ~= ARGV[12] then return {'DIVERGED', tostring(stored), t} end
end
local nw, ni = tonumber(ARGV[7]), tonumber(ARGV[8])
local nr = tonumber(ARGV[10])
local a = 13
local moves = {}
for i = 1, nr do
  local f, t = ARGV[a + 1], ARGV[a + 2]
  local c = redis.call('HGET', KEYS[2], 'rp:' .. ARGV[a]) or '0-0'
  if c == t and t ~= f then return {'DONE'} end
  if c ~= f then return {'CONFLICT', tostring(stored), 'rp:' .. ARGV[a], c} end
  moves[#moves + 1] = 'rp:' .. ARGV[a]; moves[#moves + 1] = t
  a = a + 3
end
-- every check passed: the batch's effects, all or nothing
local nf = tonumber(ARGV[a]); a = a + 1
for i = 1, nf do
  redis.call('XADD', KEYS[5], '*', 'to', ARGV[a], 'r', ARGV[a + 1], 'k', ARGV[a + 2], 'o', ARGV[a + 3], 't', ARGV[a + 4], 'e', ARGV[a + 5])
  a = a + 6
end
if #moves > 0 then redis.call('HSET', KEYS[2], unpack(moves)) end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'apply', ARGV[9]) end
-- One MSET / ZADD per 1,000 arguments: few calls out of Lua, far below unpack's limit.
local args = {}
for i = 1, nw do
  args[#args + 1] = KEYS[5 + i]; args[#args + 1] = ARGV[a]; a = a + 1
  if #args >= 1000 then redis.call('MSET', unpack(args)); args = {} end
end
if #args > 0 then redis.call('MSET', unpack(args)) end
for i = 1, ni do
  local c = tonumber(ARGV[a]); a = a + 1
  local z = {}
  for j = 1, c do
    z[#z + 1] = ARGV[a]; z[#z + 1] = ARGV[a + 1]; a = a + 2
    if #z >= 1000 then redis.call('ZADD', KEYS[5 + nw + i], unpack(z)); z = {} end
  end
  if #z > 0 then redis.call('ZADD', KEYS[5 + nw + i], unpack(z)) end
end
local changes = ARGV[a]; a = a + 1
local t = redis.call('TIME')
redis.call('HSET', KEYS[2], 'in', ARGV[3], 'at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'clock', ARGV[4]) end
if changes ~= '' then redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', 1000, '*', 'k', changes, 'c', ARGV[4], 'to', ARGV[3], 'n', redis.call('HINCRBY', KEYS[2], 'chgn', 1)) end
if tonumber(ARGV[5]) > 0 then redis.call('LTRIM', KEYS[3], tonumber(ARGV[5]), -1) end
if ARGV[6] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[6]) end
for i = a, #ARGV do redis.call('XADD', KEYS[4], 'MAXLEN', '~', 100000, '*', 'l', ARGV[i]) end
return {'OK'}`;

/**
 * acquire.lua: take the partition's lease when it is free, expired or already ours; a new token each time
 * (made by the caller: Lua's math.random is seeded the same in every script call). Times are Redis TIME.
 *   KEYS: lease, cur   ARGV: me, ttl ms, token[, a holder the caller knows is dead: taken as if expired]
 *   Answers: {'OK', epoch, committed cursor, previous owner ('' = released), previous until, now} |
 *            {'HELD', owner, ms left}
 */
export const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local l = redis.call('HMGET', KEYS[1], 'owner', 'until', 'epoch')
if l[1] and l[1] ~= '' and l[1] ~= ARGV[1] and l[1] ~= (ARGV[4] or '') and tonumber(l[2] or '0') > now then
  return {'HELD', l[1], tostring(tonumber(l[2]) - now)}
end
local epoch = tonumber(l[3] or '0') + 1
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', ARGV[3], 'epoch', epoch, 'until', now + tonumber(ARGV[2]))
return {'OK', tostring(epoch), redis.call('HGET', KEYS[2], 'in') or '0', l[1] or '', l[2] or '0', tostring(now)}`;

/** renew.lua  KEYS: lease  ARGV: token, ttl ms.  Answers {'OK'} | {'LOST'} (someone else acquired it). */
export const RENEW_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return {'LOST'} end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'until', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]))
return {'OK'}`;

/**
 * release.lua  KEYS: lease  ARGV: token.  A graceful stop frees the lease: a successor need not wait for it.
 * The token goes too, so a late commit of the releaser is FENCED even before anyone acquires.
 */
export const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then redis.call('HSET', KEYS[1], 'owner', '', 'until', 0) redis.call('HDEL', KEYS[1], 'token') return 1 end
return 0`;

/**
 * heartbeat.lua (docs/scale-out.md §5.1): a worker says it is alive until Redis TIME + ttl and learns who else
 * is, in one call. Members whose heartbeat expired a minute ago are swept.
 *   KEYS: members (zset), worker record (hash)   ARGV: id, ttl ms, then field/value pairs of the record
 *   Answers {now ms, id1, id2, ...}: the live members (score >= now), this one included.
 */
export const HEARTBEAT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if #ARGV > 2 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
table.insert(live, 1, string.format('%d', now))
return live`;

/** leave.lua  KEYS: members, worker record  ARGV: id.  A graceful stop leaves at once: the others rebalance on their next tick. */
export const LEAVE_LUA = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

/**
 * migrate.lua: a store written by layout 1 kept the cursor in two strings; move them into cur (once, atomically:
 * a crash leaves either layout whole).  KEYS: cur, legacy offset, legacy clock.  Answers 1 when it moved one.
 */
export const MIGRATE_LUA = `
local o = redis.call('GET', KEYS[2])
local c = redis.call('GET', KEYS[3])
if not o and not c then return 0 end
if o and redis.call('HEXISTS', KEYS[1], 'in') == 0 then redis.call('HSET', KEYS[1], 'in', o) end
if c and redis.call('HEXISTS', KEYS[1], 'clock') == 0 then redis.call('HSET', KEYS[1], 'clock', c) end
redis.call('DEL', KEYS[2], KEYS[3])
return 1`;

/**
 * ingest.lua: append a request's events to the partition's input log, dropping a producer's re-sent events
 * against its high-water mark in the same slot. Ids are explicit, 0-<offset + 1>: dense, and continuing after
 * the committed cursor when the stream starts empty on a store that committed before (another log).
 *   KEYS: in, prod, cur   ARGV: n, then n × (stream, arrival ms, producer | '', seq | '', event JSON)
 *   Answers {first offset, appended, mask}: mask has '1' per appended entry, '0' per re-send dropped.
 */
export const INGEST_LUA = `
local last = math.max(tonumber(redis.call('HGET', KEYS[3], 'end') or '0'), tonumber(redis.call('HGET', KEYS[3], 'in') or '0'))
local first = last
local high, highText, mask = {}, {}, {}
for i = 0, tonumber(ARGV[1]) - 1 do
  local b = 2 + i * 5
  local p, q = ARGV[b + 2], ARGV[b + 3]
  local fresh = true
  if p ~= '' then
    local h = high[p]
    if h == nil then
      local v = redis.call('HGET', KEYS[2], p)
      h = v and tonumber(v) or false
    end
    if h and tonumber(q) <= h then fresh = false else high[p] = tonumber(q); highText[p] = q end
  end
  mask[#mask + 1] = fresh and '1' or '0'
  if fresh then
    last = last + 1
    if p ~= '' then
      redis.call('XADD', KEYS[1], string.format('0-%d', last), 's', ARGV[b], 't', ARGV[b + 1], 'e', ARGV[b + 4], 'p', p, 'q', q)
    else
      redis.call('XADD', KEYS[1], string.format('0-%d', last), 's', ARGV[b], 't', ARGV[b + 1], 'e', ARGV[b + 4])
    end
  end
end
for p, q in pairs(highText) do redis.call('HSET', KEYS[2], p, q) end
if last > first then redis.call('HSET', KEYS[3], 'end', string.format('%d', last)) end
return {string.format('%d', first), string.format('%d', last - first), table.concat(mask)}`;

/**
 * trim.lua: drop log entries below an offset, never past the committed cursor (the trimming rule: only what
 * is committed, and what the caller says the archive holds durably). MINID ~ trims whole macro nodes only:
 * cheap, and it may keep a few more.   KEYS: in, cur   ARGV: offset
 */
export const TRIM_LUA = `
local o = math.min(tonumber(ARGV[1]), tonumber(redis.call('HGET', KEYS[2], 'in') or '0'))
if o <= 0 then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('0-%d', o + 1))`;

/**
 * erase.lua: remove one learner's records of a partition (`loflow erase`), fenced like a commit. The caller
 * read the lists just before (it holds the lease and runs between batches: nothing changes meanwhile).
 *   KEYS: lease, outbox, dl, <ns state keys>, <nz index keys>
 *   ARGV: token, ns, nz, per index key: a member to ZREM ('' = DEL the whole index), then no (count) and no ×
 *         (list index, new JSON) for outbox entries, then dead-letter stream ids to remove
 *   Answers {'OK'} | {'FENCED', owner, epoch}.
 */
export const ERASE_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  local l = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
  return {'FENCED', l[1] or '', l[2] or '0'}
end
local ns, nz = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, ns do redis.call('DEL', KEYS[3 + i]) end
for i = 1, nz do
  local m = ARGV[3 + i]
  if m == '' then redis.call('DEL', KEYS[3 + ns + i]) else redis.call('ZREM', KEYS[3 + ns + i], m) end
end
local a = 4 + nz
local no = tonumber(ARGV[a]); a = a + 1
for i = 1, no do
  local v = ARGV[a + 1]
  -- An emptied entry keeps its place (a commit drops the oldest by count) with no events.
  redis.call('LSET', KEYS[2], tonumber(ARGV[a]), v)
  a = a + 2
end
if a <= #ARGV then
  -- Dead letters: the stream rebuilt without them (XDEL only flags an entry: its bytes stay in the stream's
  -- node, and in RDB snapshots, until the whole node goes).
  local doomed = {}
  for i = a, #ARGV do doomed[ARGV[i]] = true end
  local rows = redis.call('XRANGE', KEYS[3], '-', '+')
  redis.call('DEL', KEYS[3])
  for _, r in ipairs(rows) do
    if not doomed[r[1]] then redis.call('XADD', KEYS[3], r[1], unpack(r[2])) end
  end
end
return {'OK'}`;

/**
 * tombstone.lua: the input log stream rebuilt with the given entries as tombstones (same id; stream
 * loflow:erased, event {}; arrival time and producer kept), for `loflow erase`. Rebuilt rather than XDEL'ed:
 * XDEL only flags an entry, and its bytes stay in the stream's node and in RDB snapshots. One script, so no
 * ingest.lua append falls in between; it blocks Redis for the length of the retained log (bounded by trimming).
 *   KEYS: in   ARGV: n, n ids, then producer ids naming the learner (their tombstones drop p and q)
 *   Answers the number of entries turned into tombstones.
 */
export const TOMBSTONE_LUA = `
local n0 = tonumber(ARGV[1])
local doomed, named = {}, {}
for i = 2, n0 + 1 do doomed[ARGV[i]] = true end
for i = n0 + 2, #ARGV do named[ARGV[i]] = true end
local rows = redis.call('XRANGE', KEYS[1], '-', '+')
redis.call('DEL', KEYS[1])
local n = 0
for _, r in ipairs(rows) do
  if doomed[r[1]] then
    local f = {}
    for j = 1, #r[2], 2 do f[r[2][j]] = r[2][j + 1] end
    if f['p'] and not named[f['p']] then
      redis.call('XADD', KEYS[1], r[1], 's', 'loflow:erased', 't', f['t'], 'e', '{}', 'p', f['p'], 'q', f['q'])
    else
      redis.call('XADD', KEYS[1], r[1], 's', 'loflow:erased', 't', f['t'], 'e', '{}')
    end
    n = n + 1
  else
    redis.call('XADD', KEYS[1], r[1], unpack(r[2]))
  end
end
return n`;

/**
 * archpub.lua (docs/scale-out.md §8)  KEYS: lease, arch  ARGV: token, part CID, through (JSON).  A partition's
 * owner publishes its newest durable loflow/part; a zombie (another token) is FENCED, so its parts stay unlinked.
 */
export const ARCHPUB_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 'FENCED' end
redis.call('HSET', KEYS[2], 'head', ARGV[2], 'through', ARGV[3])
return 'OK'`;

/** The scripts as ioredis custom commands (EVALSHA with the NOSCRIPT fallback), each with a dynamic key count. */
export const SCRIPTS = { lfRpAdd: RPADD_LUA, lfFwdDone: FWDDONE_LUA, lfCommit: COMMIT_LUA, lfAcquire: ACQUIRE_LUA, lfRenew: RENEW_LUA, lfRelease: RELEASE_LUA, lfMigrate: MIGRATE_LUA, lfIngest: INGEST_LUA, lfTrim: TRIM_LUA, lfHeartbeat: HEARTBEAT_LUA, lfLeave: LEAVE_LUA, lfErase: ERASE_LUA, lfTombstone: TOMBSTONE_LUA, lfArchPub: ARCHPUB_LUA } as const;
export type ScriptName = keyof typeof SCRIPTS;
