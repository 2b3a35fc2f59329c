// The JSON text an event arrived as, kept beside the parsed event so a consumer that writes JSON (the file
// log, the archive writer's thread) can use those bytes instead of stringifying the event again (HTTP
// ingest parses each body once; each consumer would otherwise pay about as much again in JSON.stringify).
// Only texts that parse back to the event are kept: the parser registers them before anyone else sees the
// event. A log takes its text before the event is processed; the archive takes it after, and archives
// the event as it arrived (what it archives anyway: processing does not change events).
const texts = new WeakMap<object, string>();
/** Takes still to come, for a text kept for more than one consumer (absent: one). */
const extraTakes = new WeakMap<object, number>();

/** A log or archive sink that takes raw texts (see takeRawJson); a parser keeps them only for such consumers. */
export interface RawJsonConsumer {
  readonly reusesRawJson: true;
}

export function wantsRawJson(consumer: object | undefined): boolean {
  return (consumer as Partial<RawJsonConsumer> | undefined)?.reusesRawJson === true;
}

/** Remember `json` (one line, no '\n') as the exact text `event` was parsed from, for `takes` consumers. */
export function keepRawJson(event: object, json: string, takes = 1): void {
  texts.set(event, json);
  if (takes > 1) extraTakes.set(event, takes - 1);
  else extraTakes.delete(event);
}

/** The text `event` was parsed from; forgotten after the last consumer it was kept for has taken it. */
export function takeRawJson(event: object): string | undefined {
  const t = texts.get(event);
  if (t === undefined) return undefined;
  const more = extraTakes.get(event);
  if (more === undefined) texts.delete(event);
  else if (more > 1) extraTakes.set(event, more - 1);
  else extraTakes.delete(event);
  return t;
}

/** Forget the text of an event that will not be logged (rejected), so it does not hold its body. */
export function dropRawJson(event: unknown): void {
  if (event !== null && typeof event === 'object') {
    texts.delete(event);
    extraTakes.delete(event);
  }
}
