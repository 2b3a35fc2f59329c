// The report code with known inputs (no timing is asserted anywhere in tests).
import { describe, expect, it } from 'vitest';
import { profileWhile } from '../../bench/profile.js';
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

describe('bench profiles', () => {
  it('renders a profile as a table of functions plus a line by area', () => {
    const md = markdown([], { mode: 'quick' }, [], [], [{ title: 'replay', top: [[40.5, 'parse dist/engine/ndjson.js:14']], byArea: [[40.5, 'engine'], [12, 'cborg']] }]);
    expect(md).toContain('### Where the time goes: replay (node --cpu-prof, self time)');
    expect(md).toContain('| 40.5% | `parse dist/engine/ndjson.js:14` |');
    expect(md).toContain('By area: engine 40.5%, cborg 12%.');
  });

  it('profiles this process while a function runs, naming where the time went', async () => {
    function busyLoopForTheProfile(): number {
      let x = 0;
      for (let i = 0; i < 3e7; i++) x = (x * 31 + i) % 1_000_003;
      return x;
    }
    const r = await profileWhile(async () => busyLoopForTheProfile());
    expect(typeof r.result).toBe('number');
    expect(r.top.some(([, fn]) => fn.startsWith('busyLoopForTheProfile '))).toBe(true);
    expect(r.top.reduce((a, [p]) => a + p, 0)).toBeLessThanOrEqual(100.5);
    expect(r.byArea.length).toBeGreaterThan(0);
  });
});
