// The pipeline's `retention:` section: how long raw events, derived streams, dead letters and reducer
// states are kept. Periods are whole days, weeks or years (a school's policy is written so: "90 days",
// "one year"); a horizon is computed from an injected `now`, so a fake clock can drive every expiry.
import { parseDuration } from '../duration.js';
import type { RetentionPolicy } from '../types.js';

const DAY = 86_400_000;
const UNITS: Record<string, number> = { d: DAY, w: 7 * DAY, y: 365 * DAY };

/** Milliseconds of a retention period (`90d`, `26w`, `1y`, `1y30d`); throws a readable Error otherwise. */
export function parseRetentionPeriod(value: unknown): number {
  const text = typeof value === 'string' ? value.trim() : '';
  const m = /^(\d+(?:\.\d+)?(?:d|w|y))+$/.exec(text);
  if (!m) {
    let hint = '';
    try {
      // A duration in hours or minutes is a typo for days more often than a policy (`5m` is not 5 months).
      const ms = parseDuration(value);
      hint = ms < DAY ? ` (${String(value)} is less than a day; m means minutes, not months: did you mean ${String(value).replace(/[a-z]+$/, '')}d?)` : '';
    } catch {
      /* not a duration either */
    }
    throw new Error(`'${String(value)}' is not a retention period: write days, weeks or years, e.g. 90d, 26w, 1y${hint}`);
  }
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(d|w|y)/g)) total += Number(part[1]) * UNITS[part[2]];
  if (total < DAY) throw new Error(`'${text}' is shorter than a day: a retention period is at least 1d`);
  // The same arithmetic as every other duration: parseDuration of the day count.
  return parseDuration(`${total / DAY}d`);
}

/** `YYYY-MM-DD` as a real calendar day, else a readable Error. */
export function parseDay(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : value instanceof Date ? value.toISOString().slice(0, 10) : '';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || new Date(`${text}T00:00:00Z`).toISOString().slice(0, 10) !== text) {
    throw new Error(`'${String(value)}' is not a day: write it as YYYY-MM-DD, e.g. 2027-06-30`);
  }
  return text;
}

/** The section as written -> the policy; each problem reported at its field. */
export function compileRetention(section: Record<string, any> | undefined, report: (path: Array<string | number>, message: string) => void): RetentionPolicy | undefined {
  if (!section) return undefined;
  const policy: RetentionPolicy = {};
  const period = (field: 'raw' | 'derived' | 'dead_letters', set: (ms: number) => void) => {
    if (section[field] === undefined) return;
    try {
      set(parseRetentionPeriod(section[field]));
    } catch (err) {
      report(['retention', field], (err as Error).message);
    }
  };
  period('raw', (ms) => (policy.rawMs = ms));
  period('derived', (ms) => (policy.derivedMs = ms));
  period('dead_letters', (ms) => (policy.deadLettersMs = ms));
  if (section.states !== undefined) {
    try {
      policy.statesUntil = parseDay(section.states.until);
    } catch (err) {
      report(['retention', 'states', 'until'], (err as Error).message);
    }
  }
  return policy;
}

export interface Horizons {
  /** Raw events that arrived before this (ms) are expired. */
  raw?: number;
  derived?: number;
  deadLetters?: number;
  /** Whole months (`YYYY-MM`) before this one are expired for raw events: every day of them is past `raw`. */
  rawMonthsBefore?: string;
  derivedMonthsBefore?: string;
  /** The states' last day has passed. */
  statesExpired: boolean;
}

/**
 * The first month not wholly expired: a month is expired only once its last millisecond is before the
 * horizon, so `YYYY-MM` of the horizon itself is never (the horizon's own day is still kept).
 */
export function firstKeptMonth(horizon: number): string {
  const d = new Date(horizon);
  // Every month before the horizon's ends before it; the horizon's own month does not.
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function horizons(policy: RetentionPolicy | undefined, now: number): Horizons {
  const h: Horizons = { statesExpired: false };
  if (!policy) return h;
  if (policy.rawMs !== undefined) {
    h.raw = now - policy.rawMs;
    h.rawMonthsBefore = firstKeptMonth(h.raw);
  }
  if (policy.derivedMs !== undefined) {
    h.derived = now - policy.derivedMs;
    h.derivedMonthsBefore = firstKeptMonth(h.derived);
  }
  if (policy.deadLettersMs !== undefined) h.deadLetters = now - policy.deadLettersMs;
  if (policy.statesUntil !== undefined) h.statesExpired = now >= Date.parse(`${policy.statesUntil}T00:00:00Z`) + 86_400_000;
  return h;
}
