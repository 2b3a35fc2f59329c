// Small helpers shared by operators' prepare(): compile a JSON path or a duration once, with a clear error.
import { parseDuration } from '../engine/duration.js';
import { compilePath, type Accessor } from '../engine/jsonpath.js';

/** An Error that names the parameter, so the compiler can point at it. */
export function paramError(param: string, message: string): Error {
  return Object.assign(new Error(`${param}: ${message}`), { param });
}

export function pathParam(param: string, value: string): Accessor {
  try {
    return compilePath(value);
  } catch (err) {
    throw paramError(param, (err as Error).message);
  }
}

export function durationParam(param: string, value: unknown): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw paramError(param, (err as Error).message);
  }
}

/** A number from an accessor, or undefined when the event has none. */
export function numberAt(get: Accessor, event: unknown): number | undefined {
  const v = get(event);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A field's value as a string key for counting (strings as they are, other JSON values encoded), or undefined. */
export function keyAt(get: Accessor, event: unknown): string | undefined {
  const v = get(event);
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : JSON.stringify(v);
}
