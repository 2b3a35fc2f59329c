// Reducers naming the same `time:` path share one event-time function, so the runtime (which caches times per
// route and function) parses an ISO time once for all of them on a route instead of once per reducer.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { routeAll, routeIndex, timesOf } from '../../engine/runtime/routing.js';

describe('compiler: shared event time', () => {
  it('gives reducers with the same time path one function, and reads each path as before', async () => {
    const { pipeline, errors } = await compilePipelineFile(join(import.meta.dirname, '../../pipelines/writing-observer.yaml'));
    expect(errors).toEqual([]);
    const by = new Map(pipeline!.reducers.map((r) => [r.name, r]));
    // events, time_on_task, typing, text and bursts all read `$.ts ?? $.metadata.iso_ts`; burst_stats has none.
    for (const name of ['time_on_task', 'typing', 'text', 'bursts']) expect(by.get(name)!.time).toBe(by.get('events')!.time);
    expect(by.get('burst_stats')!.time).not.toBe(by.get('events')!.time);
    const time = by.get('events')!.time;
    expect(time({ metadata: { iso_ts: '2026-01-12T09:00:00.013Z' } })).toBe(Date.parse('2026-01-12T09:00:00.013Z'));
    expect(time({ ts: 5, metadata: { iso_ts: '2026-01-12T09:00:00.013Z' } })).toBe(5);
    expect(time({})).toBeUndefined();
    // events and time_on_task share a route: their times are computed once, in one array.
    const level = [by.get('events')!, by.get('time_on_task')!];
    const [i, j] = routeIndex(level);
    expect(i).toBe(j);
    const [route] = routeAll([level[0]], [{ offset: 0, at: 1, event: { auth: { user_id: 's-0001' }, metadata: { iso_ts: '2026-01-12T09:00:00.013Z' } } }]);
    expect(timesOf(route, level[1].time)).toBe(timesOf(route, level[0].time));
    expect([...timesOf(route, level[0].time)]).toEqual([Date.parse('2026-01-12T09:00:00.013Z')]);
  });
});
