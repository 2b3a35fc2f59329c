import type { LoEvent, Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam } from './params.js';
import { eachCommand } from './gdocs.js';
import { isCountedKey } from './keystrokes.js';

export interface RevisionState {
  last: number | null;
  revisions: number;
  deleted_chars: number;
}

/**
 * Characters an event deletes: a Backspace/Delete keystroke, or the `ds` commands of a Google Docs save (also
 * inside mlti and tab-scoped nm commands). A document_history replays old edits, so it deletes nothing now.
 */
function deletedChars(e: LoEvent): number {
  if (e.event === 'keystroke') return e.keystroke?.key === 'Backspace' || e.keystroke?.key === 'Delete' ? 1 : 0;
  if (e.event === 'document_history' || !Array.isArray(e.bundles)) return 0;
  let n = 0;
  const commands = e.bundles.flatMap((b: any) => (Array.isArray(b?.commands) ? b.commands : []));
  eachCommand(commands, (c) => {
    if (c.ty === 'ds' && Number.isInteger(c.si) && Number.isInteger(c.ei) && c.si >= 1 && c.ei >= c.si) n += c.ei - c.si + 1;
  });
  return n;
}

/**
 * Revisions: deletions that start after a pause of at least `pause` (the writer went back to change
 * something), as opposed to fixing a typo mid-burst. Counts revision episodes and all deleted characters.
 */
export const revisions: Operator<RevisionState, { pause: number }> = {
  name: 'revisions',
  summary: 'Revision episodes (deletions after a pause) and deleted characters, from keystrokes or Google Docs saves.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { pause: { ...durationSchema, description: 'a deletion after a gap this long starts a revision (default 2s)' } },
  },
  prepare: (p: { pause?: unknown }) => ({ pause: durationParam('pause', p.pause ?? '2s') }),
  init: () => ({ last: null, revisions: 0, deleted_chars: 0 }),
  reduce(s, e, ctx, p) {
    if (e.event === 'keystroke' && !isCountedKey(e)) return s; // a key's keypress and keyup: its keydown counted it
    const deleted = deletedChars(e);
    const afterPause = s.last === null || ctx.time - s.last >= p.pause;
    if (deleted > 0) {
      // Deleting right after a pause starts a revision; deletions inside a burst are typo fixes.
      if (afterPause) s.revisions++;
      s.deleted_chars += deleted;
    }
    s.last = Math.max(s.last ?? ctx.time, ctx.time);
    return s;
  },
  view: (s) => ({ revisions: s.revisions, deleted_chars: s.deleted_chars }),
  viewSchema: { type: 'object', additionalProperties: false, properties: { revisions: { type: 'integer' }, deleted_chars: { type: 'integer' } } },
  example: `revisions: { from: [extension], key: student, where: "event == 'keystroke'", op: revisions, params: { pause: 2s } }`,
};
