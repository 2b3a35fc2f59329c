// `loflow erase`, the part every caller shares: one learner removed from the places a pipeline keeps data,
// given as ports (state store, input log, dead letters, archive). The live engine runs it between batches
// (engine/erase/erase-live.ts, adding its caches); the CLI runs it on the stores directly when no server
// holds them (engine/cli/erase-command.ts). Each place answers how much it removed (or, dry, would remove).
import type { ArchiveEraseResult, DeadLetterStore, InputLog, StateStore } from '../types.js';
import type { LearnerMatch } from './match.js';

export interface ErasePorts {
  store: StateStore;
  /** The name the store keeps the pipeline's records under (ctx.storeName). */
  storeName: string;
  log?: InputLog;
  deadLetters?: DeadLetterStore;
  /** Erase the learner from the archive (after every other place): what it says, for the receipt. */
  archive?: (dryRun: boolean) => Promise<ArchiveOutcome>;
}

/** The archive's part of an erasure: done (with what it reports), or why not. */
export type ArchiveOutcome = { status: 'would-erase' | 'none' } | { status: 'erased'; detail: ArchiveEraseResult } | { status: 'failed'; error: string };

/** Per place, how many records of the learner were (or would be) removed. */
export type PlaceCounts = Record<string, number>;

export interface ErasureResult {
  counts: PlaceCounts;
  archive: ArchiveOutcome;
  /** Places this kind of store or log cannot erase (none of loflow's own): said, never skipped silently. */
  unsupported: string[];
}

export async function eraseParts(p: ErasePorts, who: LearnerMatch, dryRun: boolean): Promise<ErasureResult> {
  const counts: PlaceCounts = {};
  const unsupported: string[] = [];
  if (p.store.eraseLearner) {
    const s = await p.store.eraseLearner(p.storeName, who, dryRun);
    counts[`states (${p.store.kind})`] = s.states;
    if (s.indexEntries) counts['composite-key index entries'] = s.indexEntries;
    if (s.outboxEvents) counts['outbox events'] = s.outboxEvents;
    if (s.deadLetters) counts[`dead letters (${p.store.kind})`] = s.deadLetters;
  } else unsupported.push(`state store ${p.store.kind}`);
  if (p.log) {
    // The JSON text of a matching event holds the id as written (a log may pre-filter on it) — unless roster
    // aliases let an event name the student by another id (gc-<id>, an email): then every event is matched.
    const needle = who.aliased ? undefined : JSON.stringify(who.learner).slice(1, -1);
    if (p.log.erase) counts[`input log events (${p.log.kind})`] = await p.log.erase((e) => who.event(e.event), dryRun, needle);
    else unsupported.push(`input log ${p.log.kind}`);
  }
  if (p.deadLetters) {
    if (p.deadLetters.erase) counts['dead letters'] = await p.deadLetters.erase(who.letter, dryRun);
    else unsupported.push('dead-letter store');
  }
  let archive: ArchiveOutcome = { status: 'none' };
  if (p.archive) {
    try {
      archive = await p.archive(dryRun);
      if (archive.status === 'erased') {
        counts['archive data keys destroyed'] = archive.detail.kids.length;
        counts['archived events made unreadable'] = archive.detail.archivedEvents;
        counts['archive pending events dropped'] = archive.detail.pendingDropped;
      }
    } catch (err) {
      archive = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
    }
  }
  return { counts, archive, unsupported };
}

