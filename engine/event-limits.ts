// Bounds every source applies to an event before its schema: how deeply it nests and how many values it
// holds, and that its event time is a plausible instant. Both guard the whole process, not one reducer: a
// 5,000-level event overflows the stack of whatever recurses over it later (JSON.stringify, structured
// clone, the archive's encoder), and one far-future `ts` moves the pipeline's event-time clock for everyone.

/** Nesting depth an event may have (the event object itself is depth 1). Real LO events are < 10 deep. */
export const DEFAULT_MAX_DEPTH = 64;
/** Values an event may hold (every object, array and scalar counts one). A 5 MiB body has far fewer events. */
export const DEFAULT_MAX_NODES = 10_000;
/**
 * The deepest event any part of loflow handles: `max_depth` may not exceed it (the pipeline schema says so),
 * and the archive dead-letters a logged event deeper than this (one accepted before the bound existed)
 * instead of failing on it. JSON.stringify and structured clone overflow at a few thousand levels.
 */
export const HARD_MAX_DEPTH = 1000;
/** How far ahead of its arrival an event's time may be (client clocks drift; 5 minutes is generous). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;
/**
 * The earliest event time accepted by default: the epoch (no negative times). Pipelines fed by real clients
 * should set `min_event_time: 2000-01-01`, which also catches seconds sent where milliseconds are meant; the
 * default stays at 0 so synthetic test streams with small times (ts: 1000) keep working.
 */
export const DEFAULT_MIN_EVENT_TIME = 0;

// One explicit stack shared by all calls (validation is synchronous): no allocation per event once grown.
const stackValues: unknown[] = [];
const stackDepths: number[] = [];

/**
 * Which bound `event` exceeds ('depth' or 'nodes'), or null. Iterative (an explicit stack), so a hostile
 * event cannot overflow the stack of the check itself; it stops at the first bound exceeded, so its cost is
 * bounded by maxNodes whatever the event's size.
 */
export function structureProblem(event: unknown, maxDepth: number, maxNodes: number): 'depth' | 'nodes' | null {
  if (event === null || typeof event !== 'object') return null;
  let nodes = 1;
  let top = 0;
  stackValues[0] = event;
  stackDepths[0] = 1;
  let problem: 'depth' | 'nodes' | null = null;
  while (top >= 0 && problem === null) {
    const v = stackValues[top] as Record<string, unknown> | unknown[];
    stackValues[top] = undefined; // holds no part of the event after the call (cheaper than truncating the array)
    const depth = stackDepths[top] + 1; // of v's children
    top--;
    if (Array.isArray(v)) {
      if ((nodes += v.length) > maxNodes) problem = 'nodes';
      for (let i = 0; i < v.length && problem === null; i++) {
        const x = v[i];
        if (x === null || typeof x !== 'object') continue;
        if (depth > maxDepth) problem = 'depth';
        else {
          stackValues[++top] = x;
          stackDepths[top] = depth;
        }
      }
    } else {
      for (const k in v) {
        if (++nodes > maxNodes) {
          problem = 'nodes';
          break;
        }
        const x = v[k];
        if (x === null || typeof x !== 'object') continue;
        if (depth > maxDepth) {
          problem = 'depth';
          break;
        }
        stackValues[++top] = x;
        stackDepths[top] = depth;
      }
    }
  }
  // Stopped early: drop the references still on the stack (it outlives the call).
  while (top >= 0) stackValues[top--] = undefined;
  return problem;
}

/** The reason for a structureProblem, naming the bound and the setting that sets it. */
export function describeStructure(problem: 'depth' | 'nodes', maxDepth: number, maxNodes: number, setting = true): string {
  return problem === 'depth'
    ? `event nests deeper than ${maxDepth} levels${setting ? ' (max_depth)' : ''}`
    : `event has more than ${maxNodes} values${setting ? ' (max_nodes)' : ''}`;
}

/**
 * A copy of `event` that any JSON writer can take: containers deeper than `maxDepth` are replaced by a
 * marker string. For dead letters of events refused for their depth (the file store JSON.stringifies them).
 * Iterative, like structureProblem; returns `event` itself when nothing is too deep.
 */
export function cutDeep(event: unknown, maxDepth = HARD_MAX_DEPTH): unknown {
  if (structureProblem(event, maxDepth, Infinity) === null) return event;
  const marker = `[cut: nested deeper than ${maxDepth} levels]`;
  const todo: Array<[from: Record<string, unknown> | unknown[], to: Record<string, unknown> | unknown[], depth: number]> = [];
  const copyOf = (x: unknown, depth: number): unknown => {
    if (x === null || typeof x !== 'object') return x;
    if (depth > maxDepth) return marker;
    const to: Record<string, unknown> | unknown[] = Array.isArray(x) ? [] : {};
    todo.push([x as Record<string, unknown> | unknown[], to, depth]);
    return to;
  };
  const top = copyOf(event, 1);
  while (todo.length) {
    const [from, to, depth] = todo.pop()!;
    if (Array.isArray(from)) for (let i = 0; i < from.length; i++) (to as unknown[])[i] = copyOf(from[i], depth + 1);
    else for (const k in from) (to as Record<string, unknown>)[k] = copyOf(from[k], depth + 1);
  }
  return top;
}

/** A time bound as it reads in a reason: an ISO instant (or the raw number when it is none). */
const instant = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

/**
 * Why an event-time value is not a plausible instant, or null. `field` names it in the reason (`ts`,
 * `$.client.time`). Numbers are ms since the epoch; a string is read as a reducer's `time:` path reads it
 * (Date.parse; one that does not parse falls back to arrival time, as before, and is not refused here).
 */
export function timeProblem(value: unknown, field: string, min: number, max: number, skew: string): string | null {
  let t: number;
  if (typeof value === 'number') t = value;
  else if (typeof value === 'string' && value !== '') {
    t = Date.parse(value);
    if (Number.isNaN(t)) return null;
  } else return null;
  if (!Number.isFinite(t)) return `${field} must be a finite number of ms since the epoch, not ${value}`;
  if (t > max) return `${field} ${value} is later than ${instant(max)} (arrival + max_clock_skew ${skew})`;
  if (t < min) return `${field} ${value} is earlier than ${instant(min)} (min_event_time)`;
  return null;
}
