// One retention pass (`loflow retention run`, and `serve` daily): with the pipeline's `retention:` and a
// `now` (injected: a fake clock drives tests and `--now`), remove expired raw events from the input log,
// expired dead letters, the states once past their last day, and destroy expired archive keys. Raw events
// leave a log only once applied (below the store's committed offset) and durably archived (below the
// archive HEAD's raw `through`, when the pipeline archives raw events): retention never loses what a
// restart or the archive still needs.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import type { CompiledPipeline, StateStore } from '../types.js';
import type { MemoryInputLog } from '../log/memory-log.js';
import { leaseKey } from '../state/key-layout.js';
import { expireFileLog, type LogExpiry } from './file-log.js';
import { horizons, type Horizons } from './policy.js';
import { expirePostgresLog, expireRedisDeadLetters, expireRedisLog } from './server-logs.js';

/** Where the input log is. */
export type LogTarget = { kind: 'file'; dir: string } | { kind: 'postgres'; url: string } | { kind: 'redis' } | { kind: 'memory'; log: MemoryInputLog };

/** Destroys archive data keys of whole months before `before` (archive/keys expireKeys, bound to its store). */
export type KeyExpiry = (opts: { before: string; scope: 'learners' | 'other'; dryRun?: boolean }) => Promise<{ destroyed: number }>;

export interface RetentionContext {
  pipeline: CompiledPipeline;
  now: number;
  dryRun?: boolean;
  /** The state store: its committed offset bounds what may leave the log; its states expire with `states.until`. */
  store: StateStore;
  log?: LogTarget;
  /** A dead-letter store with retention (file or memory). */
  deadLetters?: { expire(before: number, dryRun?: boolean): Promise<number> };
  /** The archive folder: its HEAD says what is durably archived. */
  archiveDir?: string;
  keys?: KeyExpiry;
  /** false in a running server's daily pass: its engine holds the states in memory and would write them back. */
  dropStates?: boolean;
}

export interface RetentionItem {
  what: 'raw' | 'dead_letters' | 'states' | 'keys';
  /** How many records (events, letters, states, keys) went, or would with a dry run. */
  removed: number;
  detail: string;
}

export interface RetentionReport {
  now: number;
  dryRun: boolean;
  horizons: Horizons;
  items: RetentionItem[];
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export async function runRetention(ctx: RetentionContext): Promise<RetentionReport> {
  const h = horizons(ctx.pipeline.retention, ctx.now);
  const dryRun = ctx.dryRun === true;
  const report: RetentionReport = { now: ctx.now, dryRun, horizons: h, items: [] };
  const redis = (ctx.store as { redis?: Redis | Cluster }).redis;
  const tag = ctx.pipeline.name;
  if (h.raw !== undefined && ctx.log) report.items.push(await expireRaw(ctx, h.raw, redis));
  if (h.deadLetters !== undefined) {
    let n = 0;
    const where: string[] = [];
    if (ctx.deadLetters) {
      n += await ctx.deadLetters.expire(h.deadLetters, dryRun);
      where.push('the dead-letter file');
    }
    if (redis && ctx.store.commitsDeadLetters) {
      n += await expireRedisDeadLetters(redis, tag, h.deadLetters, dryRun);
      where.push(`Redis lf:{${tag}}:dl`);
    }
    report.items.push({ what: 'dead_letters', removed: n, detail: `dead letters before ${day(h.deadLetters)} in ${where.join(' and ') || 'no dead-letter store'}` });
  }
  if (ctx.pipeline.retention?.statesUntil !== undefined) report.items.push(await expireStates(ctx, h, redis));
  if (ctx.keys && (h.rawMonthsBefore || h.derivedMonthsBefore)) {
    for (const [scope, before] of [['learners', h.rawMonthsBefore], ['other', h.derivedMonthsBefore]] as const) {
      if (!before) continue;
      const r = await ctx.keys({ before, scope, dryRun });
      const what = scope === 'learners' ? 'raw events of learners' : 'derived streams and events without a learner id';
      report.items.push({ what: 'keys', removed: r.destroyed, detail: `archive data keys of months before ${before} (${what}): their archived events are unreadable for good` });
    }
  } else if (h.rawMonthsBefore && ctx.pipeline.archive) {
    report.items.push({ what: 'keys', removed: 0, detail: `archive: not encrypted, so archived events of months before ${h.rawMonthsBefore} stay readable (no data keys to destroy)` });
  }
  return report;
}

/** What may leave the log: applied (the store's committed offset) and, when raw events are archived, archived. */
async function safeOffset(ctx: RetentionContext): Promise<{ below: number; why: string }> {
  const committed = await ctx.store.offset(ctx.pipeline.name);
  const archivesRaw = !!ctx.pipeline.archive && ctx.pipeline.archive.raw !== false;
  if (!archivesRaw) return { below: committed, why: `applied below offset ${committed}` };
  const archived = ctx.archiveDir ? await archivedBelow(ctx.archiveDir, ctx.pipeline) : 0;
  return { below: Math.min(committed, archived), why: `applied below offset ${committed}, archived below ${archived}` };
}

/** One past the highest raw offset in the archive's HEAD commit (0 when it has none). */
async function archivedBelow(dir: string, pipeline: CompiledPipeline): Promise<number> {
  if (!existsSync(join(dir, 'HEAD'))) return 0;
  const [{ FolderBlockstore }, { decodeBlock }] = await Promise.all([import('../../archive/blockstore.js'), import('../../archive/blocks.js')]);
  const store = new FolderBlockstore(dir);
  const head = await store.head();
  if (!head) return 0;
  const commit = decodeBlock<{ through?: Record<string, number> }>(await store.get(head));
  let max = -1;
  for (const s of pipeline.sources.keys()) max = Math.max(max, commit.through?.[s] ?? -1);
  return max + 1;
}

async function expireRaw(ctx: RetentionContext, before: number, redis: Redis | Cluster | undefined): Promise<RetentionItem> {
  const log = ctx.log!;
  const what = `raw events before ${day(before)}`;
  if (log.kind !== 'memory' && ctx.store.kind === 'memory') {
    // The states are rebuilt from this log at every start: removing events from it would remove them from the states.
    return { what: 'raw', removed: 0, detail: `${what}: not removed from the ${log.kind} log: the state store is in memory and rebuilt from that log at start (use --state redis://...)` };
  }
  const safe = await safeOffset(ctx);
  let r: LogExpiry;
  let where: string;
  switch (log.kind) {
    case 'file':
      r = expireFileLog(log.dir, before, safe.below, ctx.dryRun);
      where = `file log ${log.dir}`;
      break;
    case 'postgres':
      r = await expirePostgresLog(log.url, ctx.pipeline.name, before, safe.below, ctx.dryRun);
      where = 'Postgres loflow.events';
      break;
    case 'redis':
      if (!redis) throw new Error('the Redis input log needs the Redis state store (--state redis://...)');
      r = await expireRedisLog(redis, ctx.pipeline.name, before, safe.below, ctx.dryRun);
      where = `Redis lf:{${ctx.pipeline.name}}:in`;
      break;
    case 'memory':
      r = { removed: ctx.dryRun ? 0 : await log.log.expire(before, safe.below), segments: 0, pending: 0 };
      where = 'the in-memory log';
      break;
  }
  const parts = [`${what} in ${where} (${safe.why})`];
  if (r.segments) parts.push(`${r.segments} segment file${r.segments === 1 ? '' : 's'} deleted`);
  if (r.pending) parts.push(`${r.pending} expired event${r.pending === 1 ? '' : 's'} kept until applied and archived`);
  return { what: 'raw', removed: r.removed, detail: parts.join('; ') };
}

async function expireStates(ctx: RetentionContext, h: Horizons, redis: Redis | Cluster | undefined): Promise<RetentionItem> {
  const until = ctx.pipeline.retention!.statesUntil!;
  if (!h.statesExpired) return { what: 'states', removed: 0, detail: `states kept until ${until} (inclusive)` };
  if (ctx.dropStates === false) {
    return { what: 'states', removed: 0, detail: `states are past ${until}: a running server does not drop them (its engine would write them back); they are dropped when it next starts, or by loflow retention run once it is stopped` };
  }
  if (redis) {
    // Another process holding the pipeline's lease is a running server: its cache would write the states back.
    const leaseUntil = Number(await redis.hget(leaseKey(ctx.pipeline.name), 'until'));
    if (leaseUntil > Date.now()) return { what: 'states', removed: 0, detail: `states are past ${ctx.pipeline.retention!.statesUntil}: not dropped, a server of '${ctx.pipeline.name}' is running (it holds the lease); stop it first` };
  }
  const reducers = ctx.store.versions ? [...new Set((await ctx.store.versions(ctx.pipeline.name)).map((v) => v.reducer))] : ctx.pipeline.reducers.map((r) => r.name);
  let n = 0;
  if (ctx.dryRun) {
    for (const v of (await ctx.store.versions?.(ctx.pipeline.name)) ?? []) n += v.keys;
  } else for (const r of reducers) n += await ctx.store.drop(ctx.pipeline.name, r);
  return { what: 'states', removed: n, detail: `states past ${until}: every reducer's state (all versions) in the ${ctx.store.kind} store` };
}

/** The report as lines for people. */
export function formatReport(r: RetentionReport): string[] {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines = [`retention ${r.dryRun ? '(dry run) ' : ''}at ${new Date(r.now).toISOString()}`];
  for (const i of r.items) lines.push(`  ${i.what}: ${verb} ${i.removed}: ${i.detail}`);
  if (!r.items.length) lines.push('  nothing to do: the pipeline has no retention: section, or nothing it names is kept here');
  return lines;
}
