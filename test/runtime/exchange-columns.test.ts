// Dashboards reading an exchange reducer (docs/scale-out.md §6, §7): with P > 1 a class-keyed reducer's state
// lives in the class's partition, not in any member's; an aggregation column reading it is read from there.
// The example pipeline's class_overview with P = 4 in one process equals the P = 1 table, and its class-keyed
// columns are filled (on the old code the compiler refused the pipeline).
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/runtime.js';
import { classroomEvents } from '../cli/cluster-fixture.js';
import { exchangeDemo } from '../cluster/exchange-fixture.js';

describe('aggregation columns from exchange reducers, P = 4', () => {
  it('equal the single-process table, class-keyed columns included', async () => {
    const { pipeline, single } = await exchangeDemo('exchange-columns', 4);
    const events = classroomEvents(3000, 31);
    const tables = [];
    for (const p of [pipeline, single]) {
      const engine = new Engine(p, { batchSize: 128 });
      for (let i = 0; i < events.length; i += 250) await engine.ingest('batch', structuredClone(events.slice(i, i + 250)));
      await engine.flush();
      const groups = ['class-a', 'class-b', 'class-c'];
      for (const g of groups) await engine.ensureLoaded('class_overview', g);
      tables.push(groups.map((g) => engine.aggregate('class_overview', g)));
      await engine.stop();
    }
    const [partitioned, one] = tables;
    const filled = one.flatMap((t) => t.rows).filter((r) => typeof r.class_events === 'number' && typeof r.class_bursts === 'number');
    expect(filled.length).toBeGreaterThan(10);
    // Every row of a class shows the class's own count: the events of all its students, wherever they ran.
    for (const t of one) for (const r of t.rows) expect(r.class_events).toBe(t.rows.reduce((a, x) => a + ((x.events as number | undefined) ?? 0), 0));
    expect(partitioned).toEqual(one);
  });
});
