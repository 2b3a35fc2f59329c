// A small classroom for the erasure tests: the demo classroom's events for 12 students (three of them in
// class-b with the erased student), plus a sentence the erased student pastes (so their text is one
// searchable string) and an event of theirs the schema refuses (so a dead letter carries their id).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Classroom } from '../../engine/classroom.js';
import { containsLearner } from '../../engine/erase/match.js';
import type { LoEvent } from '../../engine/types.js';

export const ERASED = 's-0001';
export const SENTENCE = 'Marmalade zebras whisper my secret essay';

export interface ClassroomEvents {
  /** Valid events in arrival order (the erased student's among them). */
  all: LoEvent[];
  /** The same without the erased student's: what a run that never saw them is fed. */
  without: LoEvent[];
  /** Refused by the schema (a dead letter), the erased student's. */
  invalid: LoEvent;
  /** Later events of other students, sent after the erasure (the server keeps serving). */
  after: LoEvent[];
}

export function classroomEvents(events = 600): ClassroomEvents {
  const c = new Classroom({ students: 12, documents: 1, seed: 7 });
  const all = [...c.events(events)].map((g) => g.event);
  const t = Date.UTC(2026, 0, 12, 9, 0, 30);
  const paste = {
    event: 'google_docs_save',
    doc_id: `doc-${ERASED}-0`,
    bundles: [{ commands: [{ ty: 'is', ibi: 1, s: SENTENCE }], sid: `sid-${ERASED}`, reqId: 99 }],
    rev: ['99'],
    timestamp: t,
    metadata: { iso_ts: new Date(t).toISOString() },
    auth: { user_id: ERASED },
  };
  all.splice(Math.floor(all.length / 2), 0, paste);
  const later = [...c.events(120)].map((g) => g.event);
  const after = later.filter((e) => !containsLearner(e, ERASED));
  return { all, without: all.filter((e) => !containsLearner(e, ERASED)), invalid: { event: 5, auth: { user_id: ERASED }, note: SENTENCE }, after };
}

/** Every file under `dir` (recursively) whose bytes contain one of `needles`, with which. */
export function filesContaining(dir: string, needles: string[], skip: (path: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip(p)) continue;
      if (statSync(p).isDirectory()) walk(p);
      else {
        const bytes = readFileSync(p);
        for (const n of needles) if (bytes.includes(Buffer.from(n))) out.push(`${p}: ${n}`);
      }
    }
  };
  walk(dir);
  return out;
}
