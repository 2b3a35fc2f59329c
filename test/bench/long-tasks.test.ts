// longTasks on a hand-made CPU profile: it finds the stretches of non-idle samples, their length, and what
// ran in them (the deepest function under half the samples or more).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { longTasks } from '../../bench/long-tasks.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0, columnNumber: 0, scriptId: '0' });
// (root) -> (idle); (root) -> tick -> aggregate; (root) -> (garbage collector)
const nodes = [
  { id: 1, callFrame: frame('(root)'), children: [2, 3, 5] },
  { id: 2, callFrame: frame('(idle)') },
  { id: 3, callFrame: frame('tick', 'file:///x/dist/engine/server/dashboard-hub.js'), children: [4] },
  { id: 4, callFrame: frame('aggregate', 'file:///x/dist/engine/aggregate.js') },
  { id: 5, callFrame: frame('(garbage collector)') },
];
const dir = mkdtempSync(join(tmpdir(), 'loflow-longtasks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('longTasks', () => {
  it('reports the long non-idle stretches, longest first, with what ran in them', () => {
    // 1 ms a sample: 10 idle, 70 busy (60 aggregate under tick, 10 GC), 10 idle, 5 busy (too short), 5 idle.
    const samples = [...Array(10).fill(2), ...Array(60).fill(4), ...Array(10).fill(5), ...Array(10).fill(2), ...Array(5).fill(3), ...Array(5).fill(2)];
    writeFileSync(join(dir, 'a.cpuprofile'), JSON.stringify({ nodes, samples, timeDeltas: samples.map(() => 1000), startTime: 0, endTime: samples.length * 1000 }));
    const tasks = longTasks(dir, 30, 5);
    expect(tasks).toHaveLength(1);
    expect(tasks[0].ms).toBe(70);
    expect(tasks[0].at).toBe(0.01);
    expect(tasks[0].inside).toBe('aggregate dist/engine/aggregate.js:1');
    expect(tasks[0].self[0]).toEqual([86, 'aggregate dist/engine/aggregate.js:1']);
    expect(tasks[0].self[1]).toEqual([14, '(garbage collector)']);
    expect(longTasks(dir, 2, 5).map((t) => t.ms)).toEqual([70, 5]);
  });
});
