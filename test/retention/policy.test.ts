// The pipeline's retention: section: periods in days/weeks/years, the states' last day, clear errors with
// did-you-mean, and horizons from an injected clock (a month expires only once its last day is past).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline, formatError } from '../../engine/compiler.js';
import { firstKeptMonth, horizons, parseRetentionPeriod } from '../../engine/retention/policy.js';

const root = join(import.meta.dirname, '../..');
const demoFile = join(root, 'pipelines/writing-observer.yaml');
const demo = readFileSync(demoFile, 'utf8');
const withRetention = (section: string) => compilePipeline(`${demo}\nretention:\n${section}\n`, demoFile);
const DAY = 86_400_000;

describe('retention: in the pipeline', () => {
  it('compiles raw, derived, dead_letters and states.until', async () => {
    const { pipeline, errors } = await withRetention('  raw: 90d\n  derived: 1y\n  dead_letters: 4w\n  states: { until: 2027-06-30 }');
    expect(errors).toEqual([]);
    expect(pipeline!.retention).toEqual({ rawMs: 90 * DAY, derivedMs: 365 * DAY, deadLettersMs: 28 * DAY, statesUntil: '2027-06-30' });
  });

  it('reports every problem at its line, with did-you-mean for a mistyped field', async () => {
    const { errors } = await withRetention('  raw: 5m\n  dead_leters: 30d\n  derived: forever\n  states: { until: 2027-02-30 }');
    const text = errors.map(formatError).join('\n');
    expect(text).toMatch(/unknown field 'dead_leters' \(at retention\.dead_leters\); did you mean 'dead_letters'\?/);
    expect(text).toMatch(/'5m' is not a retention period: write days, weeks or years, e\.g\. 90d, 26w, 1y \(5m is less than a day; m means minutes, not months: did you mean 5d\?\)/);
    expect(text).toMatch(/'forever' is not a retention period/);
    expect(text).toMatch(/'2027-02-30' is not a day: write it as YYYY-MM-DD/);
    // Each error points into the pipeline file (the section is appended after the demo's lines).
    const lines = demo.split('\n').length;
    expect(errors.every((e) => e.line > lines)).toBe(true);
  });

  it('a pipeline without retention: keeps everything', async () => {
    const { pipeline } = await compilePipeline(demo, demoFile);
    expect(pipeline!.retention).toBeUndefined();
    expect(horizons(undefined, Date.now())).toEqual({ statesExpired: false });
  });
});

describe('horizons', () => {
  it('expire a month only once its last day is past the raw horizon', () => {
    expect(parseRetentionPeriod('1y30d')).toBe(395 * DAY);
    expect(() => parseRetentionPeriod('12h')).toThrow(/not a retention period/);
    // now 2027-03-01: 90 days back is 2026-12-01, so November is wholly expired and December is not.
    const h = horizons({ rawMs: 90 * DAY }, Date.parse('2027-03-01T00:00:00Z'));
    expect(new Date(h.raw!).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(h.rawMonthsBefore).toBe('2026-12');
    // One millisecond earlier, the horizon is still in November: November is not wholly past it.
    expect(firstKeptMonth(Date.parse('2026-11-30T23:59:59.999Z'))).toBe('2026-11');
  });

  it('states expire the day after until', () => {
    const p = { statesUntil: '2027-06-30' };
    expect(horizons(p, Date.parse('2027-06-30T23:59:59Z')).statesExpired).toBe(false);
    expect(horizons(p, Date.parse('2027-07-01T00:00:00Z')).statesExpired).toBe(true);
  });
});
