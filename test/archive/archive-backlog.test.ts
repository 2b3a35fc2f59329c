// The archive's backlog (events processed and handed to its writer, not yet taken by it) is visible: in
// stats(), /healthz `archive_backlog` and the metric loflow_archive_backlog_events. Processing goes on while
// the writer lags (up to ARCHIVE_LAG_LIMIT), so without it an operator could not tell a writer falling behind.
import { describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { openArchiveSink } from '../../archive/open.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import { startServer } from '../../engine/server/index.js';
import type { ArchiveSink, LoEvent, LoggedEvent } from '../../engine/types.js';
import { demo, demoOn, tmp } from './helpers.js';

/** The real sink behind a gate: it takes nothing until the gate opens (a writer that fell behind). */
function gated(real: ArchiveSink, gate: Promise<void>): ArchiveSink {
  return {
    append: async (stream, events) => {
      await gate;
      return real.append(stream, events as LoggedEvent[]);
    },
    commit: () => real.commit(),
    durableOffset: () => real.durableOffset(),
    durableThrough: (s) => real.durableThrough!(s),
    ...(real.forPartition ? { forPartition: (n: number) => gated(real.forPartition!(n), gate) } : {}),
    close: () => real.close(),
  };
}

describe('archive backlog', () => {
  it.each([1, 3])('counts what the writer has not taken, in stats, /healthz and /metrics, and goes back to 0 once it has (%i partitions)', async (partitions) => {
    const pipeline = partitions === 1 ? await demo() : await demoOn(partitions);
    const real = (await openArchiveSink(pipeline, join(tmp(), 'a'), { thread: 'worker' }))!;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const engine = new Engine(pipeline, { archive: gated(real, gate), batchSize: 100 });
    await engine.start();
    const s = await startServer({ pipeline, engine, port: 0 });
    try {
      const events = [...new Classroom({ students: 5, seed: 2 }).events(250)].map((e) => e.event as LoEvent);
      await engine.ingest('extension', events, 1000);
      await engine.flush();
      // Processed, not archived: every raw event (the demo archives derived streams too: at least these),
      // summed over the partitions.
      expect(engine.stats().processed).toBe(250);
      const waiting = engine.stats().archiveBacklog;
      expect(waiting).toBeGreaterThanOrEqual(250);
      const health = (await (await fetch(`${s.url}/healthz`)).json()) as { archive_backlog: number; queue_depth: number };
      expect(health).toMatchObject({ archive_backlog: waiting, queue_depth: 0 });
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toContain(`loflow_archive_backlog_events ${waiting}\n`);

      open();
      await vi.waitFor(() => expect(engine.stats().archiveBacklog).toBe(0), { timeout: 10_000, interval: 20 });
      expect(((await (await fetch(`${s.url}/healthz`)).json()) as { archive_backlog: number }).archive_backlog).toBe(0);
      expect(await (await fetch(`${s.url}/metrics`)).text()).toContain('loflow_archive_backlog_events 0\n');
    } finally {
      open();
      await s.stop();
      await engine.stop();
    }
  }, 30_000);
});
