// One learner's records in a Redis state store (`loflow erase`, docs/scale-out.md §10.3 for P = 1): the
// states whose shard key is the learner or a composite key with them (every reducer and version), the
// composite-key index (the learner's own sets, and their keys in the other parts' sets), their derived
// events in the outbox and their dead letters in the `dl` stream. Lists are read first (key names, no state
// values), then one fenced script (erase.lua) removes them all at once.
import type { Cluster, Redis } from 'ioredis';
import { namesLearner } from '../erase/match.js';
import type { DeadLetter, LearnerErasure, LoggedEvent, OutboxEntry, StoreErasureCounts } from '../types.js';
import { chgKey, dlKey, leaseKey, outboxKey, parseStateKey, partIndexKey, reducerPattern } from './key-layout.js';
import { runScript } from './run-script.js';

export interface RedisErasure {
  redis: Redis | Cluster;
  pipeline: string;
  token: string;
  /** Key names matching a pattern on every primary (the store's SCAN). */
  keys(pattern: string): Promise<string[]>;
}

/** Index keys `lf:{p}:k:<reducer>:<version>:<part>`: reducer and version contain no ':'. */
function parseIndexKey(key: string): { reducer: string; version: string; part: string } | undefined {
  const m = /^lf:\{.+?\}:k:([^:]+):([^:]+):(.*)$/s.exec(key);
  return m ? { reducer: m[1], version: m[2], part: m[3] } : undefined;
}

export async function eraseInRedis(r: RedisErasure, who: LearnerErasure, dryRun: boolean): Promise<StoreErasureCounts> {
  const { redis, pipeline } = r;
  const states = (await r.keys(reducerPattern(pipeline))).filter((k) => {
    const ref = parseStateKey(k);
    return ref !== undefined && namesLearner(ref.key, who.learner);
  });
  // Index sets: the learner's own (DEL), and the other parts' entries of the learner's composite keys (ZREM).
  const index: Array<[string, string]> = [];
  let indexEntries = 0;
  for (const k of await r.keys(`lf:{${pipeline}}:k:*`)) {
    const ix = parseIndexKey(k);
    if (ix?.part === who.learner) {
      index.push([k, '']);
      indexEntries += await redis.zcard(k);
    }
  }
  for (const k of states) {
    const ref = parseStateKey(k)!;
    if (!ref.key.includes('|')) continue;
    for (const part of new Set(ref.key.split('|'))) {
      if (part === who.learner) continue;
      const ik = partIndexKey(pipeline, ref.reducer, ref.version, part);
      if ((await redis.zscore(ik, ref.key)) === null) continue;
      index.push([ik, ref.key]);
      indexEntries++;
    }
  }
  // Outbox entries hold many learners' derived events: the learner's are cut out, the entry keeps its place.
  const outbox: Array<[number, string]> = [];
  let outboxEvents = 0;
  const entries = await redis.lrange(outboxKey(pipeline), 0, -1);
  entries.forEach((text, i) => {
    const entry = JSON.parse(text) as OutboxEntry;
    let cut = 0;
    const streams: Record<string, LoggedEvent[]> = {};
    for (const [s, l] of Object.entries(entry.streams)) {
      streams[s] = l.filter((e) => !who.event(e.event));
      cut += l.length - streams[s].length;
    }
    if (cut === 0) return;
    outboxEvents += cut;
    outbox.push([i, JSON.stringify({ ...entry, streams })]);
  });
  const letters: string[] = [];
  let from = '-';
  for (;;) {
    const rows = await redis.xrange(dlKey(pipeline), from, '+', 'COUNT', 1000);
    for (const [id, fields] of rows) {
      const i = fields.indexOf('l');
      if (i >= 0 && who.letter(JSON.parse(fields[i + 1]) as DeadLetter)) letters.push(id);
    }
    if (rows.length < 1000) break;
    from = '(' + rows[rows.length - 1][0];
  }
  const counts = { states: states.length, indexEntries, outboxEvents, deadLetters: letters.length };
  if (dryRun) return counts;
  const keys = [leaseKey(pipeline), outboxKey(pipeline), dlKey(pipeline), ...states, ...index.map(([k]) => k)];
  const args: Array<string | number> = [r.token, states.length, index.length, ...index.map(([, m]) => m), outbox.length, ...outbox.flat(), ...letters];
  const answer = (await runScript(redis, 'lfErase', keys, args)) as string[];
  if (answer[0] === 'FENCED') throw Object.assign(new Error(`fenced: the lease of {${pipeline}} is held by ${answer[1] || 'nobody'} (epoch ${answer[2]}); nothing was erased`), { code: 'FENCED' });
  await eraseFromChanges(redis, chgKey(pipeline), who.learner);
  await rewriteAppendOnlyFile(redis);
  return counts;
}

/**
 * Redis's append-only file still holds the erased values until it is rewritten: asked for now (BGREWRITEAOF
 * runs in the background). RDB snapshots on disk hold them until the next save; backups until they expire.
 */
async function rewriteAppendOnlyFile(redis: Redis | Cluster): Promise<void> {
  const nodes = 'nodes' in redis ? (redis as Cluster).nodes('master') : [redis as Redis];
  for (const node of nodes) {
    try {
      const [, aof] = (await node.config('GET', 'appendonly')) as string[];
      if (aof === 'yes') await node.bgrewriteaof();
    } catch {
      // CONFIG may be renamed or refused (managed Redis): the README says to rewrite the AOF there
    }
  }
}

/**
 * The dashboard nodes' change stream (`chg`, ~1,000 entries) names changed state keys, the learner's among
 * them: rebuilt with the same ids without those keys (XDEL would leave the bytes in the stream's node). The
 * erasure runs between this process's batches, so no commit appends meanwhile; a dashboard node reading the
 * stream sees the same ids and simply no longer the learner's keys.
 */
async function eraseFromChanges(redis: Redis | Cluster, key: string, learner: string): Promise<void> {
  const rows = await redis.xrange(key, '-', '+');
  let touched = false;
  const kept = rows.map(([id, fields]) => {
    const f: string[] = [...fields];
    const i = f.indexOf('k');
    if (i < 0) return [id, f] as const;
    const changes = JSON.parse(f[i + 1]) as Record<string, string[]>;
    for (const [reducer, keys] of Object.entries(changes)) {
      const rest = keys.filter((k) => !namesLearner(k, learner));
      if (rest.length !== keys.length) {
        touched = true;
        changes[reducer] = rest;
      }
    }
    f[i + 1] = JSON.stringify(changes);
    return [id, f] as const;
  });
  if (!touched) return;
  const m = redis.multi().del(key);
  for (const [id, f] of kept) m.xadd(key, id, ...f);
  await m.exec();
}
