// The report code with known inputs (no timing is asserted anywhere in tests).
import { describe, expect, it } from 'vitest';
import { markdown, svgPlot } from '../../bench/report.js';

describe('bench report', () => {
  it('renders figures with baseline, ratio and goal, and lists failed workloads', () => {
    const md = markdown(
      [{ workload: 'replay', name: 'memory', value: 500_000, unit: 'events/s', baseline: 1_000_000, ratio: 0.5, goal: '>= 1M', met: false }],
      { mode: 'quick' },
      ['p.svg'],
      [{ name: 'memory', error: 'boom' }],
    );
    expect(md).toContain('| replay | memory | 500,000 events/s | 1,000,000 events/s | 0.50 | >= 1M | **no** |');
    expect(md).toContain('- workload **memory** failed: boom');
    expect(md).toContain('![p.svg](p.svg)');
  });
  it('draws one polyline per series label with a point per x', () => {
    const svg = svgPlot({ title: 't', x: 'x', y: 'y', points: [{ label: 'a', x: 1, y: 10 }, { label: 'a', x: 2, y: 20 }, { label: 'b', x: 1, y: 5 }, { label: 'b', x: 2, y: 8 }] });
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg.match(/<circle/g)).toHaveLength(4);
    expect(svg.startsWith('<svg')).toBe(true);
  });
});
