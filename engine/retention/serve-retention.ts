// Retention inside `serve`: states past `states.until` are dropped before the engine starts (nothing holds
// them in memory yet), then the whole policy runs at start and daily on the running server's own stores.
import type { CompiledPipeline, StateStore } from '../types.js';
import { archiveKeyExpiry } from './keys.js';
import { horizons } from './policy.js';
import { formatReport, runRetention, type LogTarget, type RetentionContext } from './run.js';
import { scheduleRetention, type RetentionSchedule } from './schedule.js';

export interface ServeRetentionOptions {
  pipeline: CompiledPipeline;
  store: StateStore;
  log?: LogTarget;
  deadLetters?: RetentionContext['deadLetters'];
  archiveDir?: string;
  /** The data key store when not the archive's keys folder (serve --keys). */
  keys?: string;
  now?: () => number;
  everyMs?: number;
  /** The pipeline running now (a live edit under serve --watch changes it): each pass reads its policy. */
  current?: () => CompiledPipeline;
  /** Where report lines go (the server's log). */
  print?: (line: string) => void;
}

/** Before the engine starts: drop the states when their last day has passed (returns the report lines). */
export async function dropExpiredStatesAtStart(o: ServeRetentionOptions): Promise<string[]> {
  const policy = o.pipeline.retention;
  if (!policy?.statesUntil || !horizons(policy, (o.now ?? Date.now)()).statesExpired) return [];
  const r = await runRetention({ pipeline: { ...o.pipeline, retention: { statesUntil: policy.statesUntil } }, now: (o.now ?? Date.now)(), store: o.store, dropStates: true });
  return formatReport(r);
}

/** The daily pass (first one now); undefined when the pipeline has no retention: section. */
export async function startServeRetention(o: ServeRetentionOptions): Promise<RetentionSchedule | undefined> {
  // Without a retention: section at start, a section added later by a live edit applies at the next start.
  if (!o.pipeline.retention) return undefined;
  const keys = await archiveKeyExpiry(o.pipeline, o.store, o.archiveDir ?? '', o.keys);
  const print = o.print ?? ((l: string) => console.log(l));
  return scheduleRetention({
    now: o.now,
    everyMs: o.everyMs,
    run: (now) => runRetention({ pipeline: o.current?.() ?? o.pipeline, now, store: o.store, log: o.log, deadLetters: o.deadLetters, archiveDir: o.archiveDir, keys, dropStates: false }),
    onReport: (r) => {
      for (const l of formatReport(r)) print(`loflow: ${l.trim()}`);
    },
    onError: (err) => print(`loflow: retention pass failed (retried at the next one): ${(err as Error).message}`),
  });
}
