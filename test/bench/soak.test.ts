// The soak workload's arithmetic with known inputs (no timing is asserted).
import { describe, expect, it } from 'vitest';
import { FLAT_MIB_PER_HOUR, memoryVerdict, parseDuration, slope, type SoakSample } from '../../bench/soak.js';
import { svgPlot } from '../../bench/report.js';

const sample = (t: number, rssMiB: number): SoakSample => ({ t, rssMiB, heapMiB: 0, loopP99ms: 1, loopMaxMs: 1, latencyP99ms: 1, latencyP50ms: 1, offered: 1, processed: 1, backlog: 0, failed: 0 });

describe('soak', () => {
  it('reads --duration as seconds, minutes or hours', () => {
    expect(parseDuration(undefined, 1800)).toBe(1800);
    expect(parseDuration('90s', 0)).toBe(90);
    expect(parseDuration('5m', 0)).toBe(300);
    expect(parseDuration('1.5h', 0)).toBe(5400);
    expect(parseDuration('45', 0)).toBe(45);
    expect(() => parseDuration('soon', 0)).toThrow(/not a duration/);
  });

  it('fits the RSS slope after the warm-up and calls flat memory flat', () => {
    expect(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }])).toBeCloseTo(2);
    // A warm-up climb in the first fifth, then flat with noise: flat.
    const flat = Array.from({ length: 60 }, (_, i) => sample(i * 30, i < 10 ? 100 + i * 10 : 200 + (i % 3)));
    expect(memoryVerdict(flat).flat).toBe(true);
    // 1 MiB a minute: 60 MiB/h, a leak.
    const leak = Array.from({ length: 60 }, (_, i) => sample(i * 60, 200 + i));
    const v = memoryVerdict(leak);
    expect(v.slopeMiBPerHour).toBeCloseTo(60, 0);
    expect(v.flat).toBe(false);
    expect(FLAT_MIB_PER_HOUR).toBeLessThan(60);
  });

  it('plots a long series with a dozen x labels and no point markers', () => {
    const svg = svgPlot({ title: 't', x: 'minutes', y: 'MiB', points: Array.from({ length: 60 }, (_, i) => ({ label: 'RSS', x: i, y: 100 + i })) });
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toBeNull();
    expect((svg.match(/text-anchor="middle">\d+<\/text>/g) ?? []).length).toBeLessThanOrEqual(13);
  });
});
