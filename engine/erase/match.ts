// Which records are one learner's: what `loflow erase` removes. An event is the learner's when any of the
// pipeline's keys reads the learner's id from it (a composite key `L|doc` too), or when the id is a string
// value anywhere in it (derived events copy the key fields; a dead letter refused for an unknown student
// still carries the id). Whole values only: erasing `s-1` leaves `s-10`'s events alone.
import type { CompiledPipeline, DeadLetter, LoEvent } from '../types.js';

/** A string that is the learner's id, or a composite key (`a|b`) with it among its parts. */
export function namesLearner(value: string, learner: string): boolean {
  if (value === learner) return true;
  return value.includes('|') && value.split('|').includes(learner);
}

/** Whether `learner` is a string value anywhere in `v` (bounded depth: events are bounded at ingest). */
export function containsLearner(v: unknown, learner: string, depth = 0): boolean {
  if (typeof v === 'string') return namesLearner(v, learner);
  if (v === null || typeof v !== 'object' || depth > 256) return false;
  if (Array.isArray(v)) return v.some((x) => containsLearner(x, learner, depth + 1));
  for (const x of Object.values(v as Record<string, unknown>)) if (containsLearner(x, learner, depth + 1)) return true;
  return false;
}

export interface LearnerMatch {
  readonly learner: string;
  /** The pipeline's rosters have aliases: an event may name the learner by another id (its keys resolve it). */
  readonly aliased: boolean;
  event(e: unknown): boolean;
  letter(l: DeadLetter): boolean;
}

export function learnerMatch(pipeline: CompiledPipeline, learner: string): LearnerMatch {
  if (typeof learner !== 'string' || learner === '' || learner.includes('|')) throw new Error(`a learner id is a non-empty string without '|', not ${JSON.stringify(learner)}`);
  const keys = [...pipeline.keys.values()];
  const byKey = (e: LoEvent) =>
    keys.some((k) => {
      try {
        const v = k.extract(e);
        return v !== undefined && namesLearner(String(v), learner);
      } catch {
        return false; // a key that cannot read this event does not name anyone in it
      }
    });
  const event = (e: unknown) => containsLearner(e, learner) || (e !== null && typeof e === 'object' && byKey(e as LoEvent));
  // A dead letter's reason may quote the id ("unknown student 's-3'"): quoted whole, so `s-10` is not `s-1`.
  const quoted = [`'${learner}'`, `"${learner}"`, JSON.stringify(learner)];
  const letter = (l: DeadLetter) => event(l.event) || (typeof l.reason === 'string' && quoted.some((q) => l.reason.includes(q)));
  return { learner, event, letter, aliased: pipeline.identities !== undefined };
}
