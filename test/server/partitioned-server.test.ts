// A partitioned pipeline behind the real server (docs/scale-out.md §14 step 2): events posted over HTTP are
// routed to 8 partition tasks, and every class's dashboard (rows from several partitions, one view clock)
// answers exactly what the same pipeline on one partition answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classroom } from '../../engine/classroom.js';
import { partitionOf } from '../../engine/partition.js';
import { demoWithPartitions } from '../runtime/partitioned-demo.js';
import { demoServer } from './server-fixture.js';

type S = Awaited<ReturnType<typeof demoServer>>;
const teachers = { 'tok-ada': 't-ada', 'tok-bo': 't-bo', 'tok-cy': 't-cy' };
const tokenOf: Record<string, string> = { 'class-a': 'tok-ada', 'class-b': 'tok-ada', 'class-c': 'tok-bo', 'class-d': 'tok-cy' };

describe('a partitioned pipeline behind the server', () => {
  let one: S;
  let eight: S;
  beforeAll(async () => {
    one = await demoServer({ pipeline: await demoWithPartitions(1), auth: { teacherTokens: teachers } });
    eight = await demoServer({ pipeline: await demoWithPartitions(8), auth: { teacherTokens: teachers } });
  });
  afterAll(async () => {
    await one?.close();
    await eight?.close();
  });

  it('HTTP ingest routes each student to its partition, and every class dashboard equals the one-partition server’s', async () => {
    const events = [...new Classroom({ students: 24, seed: 21 }).events(2400)].map((e) => e.event);
    const partitions = new Set<number | undefined>();
    eight.engine.on('batch', (b: { partition?: number }) => partitions.add(b.partition));
    for (let i = 0; i < events.length; i += 200) {
      const body = JSON.stringify(events.slice(i, i + 200));
      const [a, b] = await Promise.all([one.post(body), eight.post(body)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(await b.json()).toEqual(await a.json());
    }
    await Promise.all([one.engine.flush(), eight.engine.flush()]);
    const students = new Set(events.map((e) => (e as { auth: { user_id: string } }).auth.user_id));
    expect(partitions).toEqual(new Set([...students].map((s) => partitionOf(s, 8))));
    expect(eight.engine.stats()).toMatchObject({ processed: 2400, committedOffset: 2400, queueDepth: 0 });
    for (const [cls, token] of Object.entries(tokenOf)) {
      const [a, b] = await Promise.all([one.get(`/v1/dashboards/overview/${cls}`, token), eight.get(`/v1/dashboards/overview/${cls}`, token)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const table = await b.json();
      expect(table.rows.filter((r: { events?: number }) => r.events).length).toBeGreaterThan(0);
      expect(table).toEqual(await a.json());
    }
  });
});
