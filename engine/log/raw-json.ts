// The JSON text an event arrived as, kept beside the parsed event so a log that stores JSON can write those
// bytes instead of stringifying the event again (HTTP ingest parses each body once; the file log would
// otherwise pay about as much again in JSON.stringify). Only texts that parse back to the event are kept:
// the parser registers them before anyone else sees the event, and the log takes them before the event
// is processed, so nothing can have changed it in between.
const texts = new WeakMap<object, string>();

/** A log that takes raw texts (see takeRawJson); a parser keeps them only for such a log. */
export interface RawJsonConsumer {
  readonly reusesRawJson: true;
}

export function wantsRawJson(log: object): boolean {
  return (log as Partial<RawJsonConsumer>).reusesRawJson === true;
}

/** Remember `json` (one line, no '\n') as the exact text `event` was parsed from. */
export function keepRawJson(event: object, json: string): void {
  texts.set(event, json);
}

/** The text `event` was parsed from, once: it is forgotten here (the log has it now). */
export function takeRawJson(event: object): string | undefined {
  const t = texts.get(event);
  if (t !== undefined) texts.delete(event);
  return t;
}

/** Forget the text of an event that will not be logged (rejected), so it does not hold its body. */
export function dropRawJson(event: unknown): void {
  if (event !== null && typeof event === 'object') texts.delete(event);
}
