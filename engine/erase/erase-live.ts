// `loflow erase` inside a running engine: between two batches of the partition (the consumer's exclusive
// section), so no batch in flight re-creates a state from the learner's events, and every event of theirs
// the log holds, processed or not yet, becomes a tombstone first. Then the working set forgets them and
// dashboards are told (a 'batch' with no events, naming the classes whose rows changed).
import type { PartitionTask } from '../runtime/partition-task.js';
import type { BatchInfo } from '../runtime/types.js';
import type { ArchiveEraseRequest } from '../types.js';
import { eraseParts, type ErasureResult } from './erase-parts.js';
import { containsLearner, namesLearner, type LearnerMatch } from './match.js';

export interface LiveErasure extends ErasureResult {
  /** States of other keys (a class, a document) whose value still names the learner: not recomputed. */
  remaining: string[];
}

export function eraseLive(task: PartitionTask, unknown: Set<string>, who: LearnerMatch, opts: { dryRun: boolean; record: ArchiveEraseRequest['record'] }): Promise<LiveErasure> {
  const { ctx, consumer } = task;
  return consumer.exclusive(async () => {
    // A commit sent and unanswered (store down) would be sent again as it is, with the learner's states.
    if (consumer.hasPending) throw Object.assign(new Error('a batch commit is waiting for the state store (unavailable): retry the erasure once it is back'), { code: 'UNAVAILABLE' });
    const cached = task.states.eraseLearner(who.learner, opts.dryRun);
    const result = await eraseParts(
      {
        store: ctx.store,
        storeName: ctx.storeName,
        log: ctx.log,
        deadLetters: ctx.deadLetters,
        ...(ctx.archive ? { archive: (dry: boolean) => task.feed.erase({ learner: who.learner, record: opts.record }, dry) } : {}),
      },
      who,
      opts.dryRun,
    );
    let n = 0;
    for (const keys of cached.values()) n += keys.size;
    result.counts['cached states (this server)'] = n;
    if (!opts.dryRun) {
      unknown.delete(who.learner);
      const info: BatchInfo = { from: consumer.committed, to: consumer.committed, events: 0, ms: 0, changed: cached, changedGroups: task.query.changedGroups(cached) };
      ctx.events.emit('batch', info);
    }
    return { ...result, remaining: remainingMentions(task, who.learner) };
  });
}

/**
 * States not keyed by the learner whose value still holds their id (a class's top-k of students, say): they
 * cannot be recomputed from the other members' states, so they are listed, not hidden. Aggregations of a
 * class over member states are computed when read and need nothing (README "Erasure").
 */
function remainingMentions(task: PartitionTask, learner: string): string[] {
  const out: string[] = [];
  for (const [name, states] of task.states.cache) {
    for (const [key, c] of states) if (!namesLearner(key, learner) && containsLearner(c.s, learner)) out.push(`${name}:${key}`);
  }
  return out;
}
