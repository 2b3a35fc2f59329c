// The Writing Observer extension logs each key three times: a `keystroke` event for its keydown, its
// keypress (printable keys only) and its keyup, told apart by `keystroke.type`. Operators that count keys
// count one of them; events without a type (tools that log one event a key) count as they are.
import type { LoEvent } from '../engine/types.js';

/** The browser event that stands for a key by default: every key has one, printable or not. */
export const DEFAULT_KEY_EVENT = 'keydown';

/** True when a keystroke event is the one of its key to count (its type is `keyEvent`, or it has no type). */
export function isCountedKey(e: LoEvent, keyEvent = DEFAULT_KEY_EVENT): boolean {
  const type = e.keystroke?.type;
  return type === undefined || type === null || type === keyEvent;
}

export const keyEventSchema = {
  type: 'string',
  enum: ['keydown', 'keypress', 'keyup'],
  description: "which of the browser's key events stands for a key when events carry keystroke.type (default keydown)",
};
