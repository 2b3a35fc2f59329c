// The archive data keys retention destroys (docs/scale-out.md §10.1: one key per learner per month,
// `_other:<YYYY-MM>` for derived streams and events without a learner id). Keys live in the archive's keys
// folder (FileDekStore) or in the state store's Redis (lf:{<pipeline>}:dek); whichever holds keys has its
// expired months deleted (expireKeys): the chunks encrypted under them stay hash-valid and unreadable.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import type { CompiledPipeline, StateStore } from '../types.js';
import type { KeyExpiry } from './run.js';

/** `keys`: where the data keys are when not in the default places (serve's and the archive CLI's --keys: a folder or redis://…). */
export async function archiveKeyExpiry(pipeline: CompiledPipeline, store: StateStore, archiveDir: string, keys?: string): Promise<KeyExpiry | undefined> {
  const { FileDekStore, RedisDekStore, dekKey, expireKeys, parseKid } = await import('../../archive/keys/index.js');
  const stores: Array<import('../../archive/keys/index.js').DekStore> = [];
  if (keys) stores.push(await (await import('../../archive/open-crypto.js')).openDekStore(archiveDir, pipeline.name, keys));
  else if (archiveDir && existsSync(join(archiveDir, 'keys'))) stores.push(FileDekStore.forArchive(archiveDir));
  const redis = (store as { redis?: Redis | Cluster }).redis;
  if (!keys && redis && (await redis.exists(dekKey(pipeline.name))) === 1) stores.push(new RedisDekStore(redis, pipeline.name));
  if (!stores.length) return undefined;
  return async ({ before, scope, dryRun }) => {
    let destroyed = 0;
    for (const s of stores) {
      if (dryRun) destroyed += (await s.kids()).map(parseKid).filter((k) => k.learner === (scope === 'learners') && k.month < before).length;
      else destroyed += (await expireKeys(s, { before, scope })).length;
    }
    return { destroyed };
  };
}
