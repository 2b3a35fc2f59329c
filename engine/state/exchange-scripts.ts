// The exchange edges' Lua scripts (docs/scale-out.md §6), run through run-script.ts like the others in
// scripts.ts: the forwarder's copy into a target's rp stream and its fenced cursor move.

/**
 * rpadd.lua (docs/scale-out.md §6, forward): copy a source partition's fwd entries into one target's
 * rp:<source> stream under the fwd entries' own ids, in order. An id equal to or below the stream's last id
 * was copied before (by this forwarder, a crashed one, or a zombie): Redis refuses it and it is counted, not
 * written again. The stream's last id survives trimming, so the refusal holds for good (never DEL rp streams).
 *   KEYS: rp:<source> of the target   ARGV: n, then n × (id, reducer, key, o, t, event JSON)
 *   Answers {added, refused}.
 */
export const RPADD_LUA = `
local added, refused = 0, 0
local a = 2
for i = 1, tonumber(ARGV[1]) do
  local r = redis.pcall('XADD', KEYS[1], ARGV[a], 'r', ARGV[a + 1], 'k', ARGV[a + 2], 'o', ARGV[a + 3], 't', ARGV[a + 4], 'e', ARGV[a + 5])
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'equal or smaller', 1, true) then return redis.error_reply(r.err) end
    refused = refused + 1
  else
    added = added + 1
  end
  a = a + 6
end
return {added, refused}`;

/**
 * fwddone.lua: the lease holder's forwarder copied fwd through `id` into the targets: cur.fwd moves there
 * (never back) and fwd is trimmed through it. Fenced like commit.lua: a zombie's forwarding may copy (the
 * targets refuse repeats) but never moves the cursor.
 *   KEYS: lease, cur, fwd   ARGV: token, id   Answers {'OK'} | {'FENCED', owner, epoch}.
 */
export const FWDDONE_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  local l = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
  return {'FENCED', l[1] or '', l[2] or '0'}
end
local function parts(id) local ms, seq = string.match(id, '^(%d+)-(%d+)$') return tonumber(ms), tonumber(seq) end
local nm, ns = parts(ARGV[2])
local cm, cs = parts(redis.call('HGET', KEYS[2], 'fwd') or '0-0')
if nm > cm or (nm == cm and ns > cs) then redis.call('HSET', KEYS[2], 'fwd', ARGV[2]) end
redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d-%d', nm, ns + 1))
return {'OK'}`;
