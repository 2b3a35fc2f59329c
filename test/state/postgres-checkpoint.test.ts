// The Postgres input log and the DBOS batch runner, on the throwaway Postgres of the global setup (and, for
// the outage test, a Postgres of its own that is stopped and brought back).
import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Classroom } from '../../engine/classroom.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { PostgresInputLog } from '../../engine/log/postgres-log.js';
import { DbosBatchRunner } from '../../engine/checkpoint/dbos-runner.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { StateStore } from '../../engine/types.js';
import { startPostgres } from '../../bench/servers.js';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const ev = (i: number) => ({ event: 'keystroke', student: `s${i % 3}`, n: i });

async function snapshot(store: StateStore, pipeline: string) {
  const out: Record<string, unknown> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.key}`] = state;
  return JSON.parse(JSON.stringify(out));
}

describe('Postgres input log', () => {
  it('appends durably, reads back after reopening, continues offsets and drops producer re-sends', async () => {
    const url = inject('postgresUrl');
    const name = `log${Date.now()}`;
    const log = await PostgresInputLog.open(url, name);
    expect(await log.end()).toBe(0);
    const a = await log.append([0, 1, 2].map((i) => ({ stream: 'batch', event: ev(i), at: 1000 + i, producer: 'p', seq: i })));
    expect(a).toEqual({ first: 0, count: 3 });
    // Concurrent appends are grouped into one statement but keep their own offsets.
    const [b, c] = await Promise.all([
      log.append([{ stream: 'batch', event: ev(3), at: 1003, producer: 'p', seq: 1 }, { stream: 'batch', event: ev(4), at: 1004, producer: 'p', seq: 3 }]),
      log.append([{ stream: 'batch', event: ev(5), at: 1005 }]),
    ]);
    expect(b).toEqual({ first: 3, count: 1 }); // seq 1 was a re-send
    expect(c).toEqual({ first: 4, count: 1 });
    // A second writer for the same pipeline is refused while this one holds it.
    await expect(PostgresInputLog.open(url, name)).rejects.toThrow(/another loflow process holds the input log/);
    await log.close();

    const again = await PostgresInputLog.open(url, name);
    expect(await again.end()).toBe(5);
    const read = await again.read(0, 100);
    expect(read.map((e) => [e.offset, (e.event as { n: number }).n, e.at])).toEqual([
      [0, 0, 1000],
      [1, 1, 1001],
      [2, 2, 1002],
      [3, 4, 1004],
      [4, 5, 1005],
    ]);
    // The producers' sequence numbers survived the reopen.
    expect(await again.append([{ stream: 'batch', event: ev(9), at: 1, producer: 'p', seq: 3 }])).toEqual({ first: 5, count: 0 });
    await again.close();
  });

  it('answers UNAVAILABLE while Postgres is down, loses nothing accepted, and works again when it is back', async () => {
    const own = await startPostgres();
    const name = `outage${Date.now()}`;
    const log = await PostgresInputLog.open(own.url, name);
    await log.append([{ stream: 'batch', event: ev(0), at: 1 }]);
    await own.stop({ keep: true });
    const err = await log.append([{ stream: 'batch', event: ev(1), at: 2 }]).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('UNAVAILABLE');
    const back = await startPostgres({ port: own.port, dir: own.dir });
    try {
      expect(await log.append([{ stream: 'batch', event: ev(2), at: 3 }])).toEqual({ first: 1, count: 1 });
      // The writer's lock died with the old server's session: it took it again before writing.
      await expect(PostgresInputLog.open(back.url, name)).rejects.toThrow(/another loflow process holds the input log/);
      await log.close();
      const reopened = await PostgresInputLog.open(back.url, name);
      expect((await reopened.read(0, 10)).map((e) => (e.event as { n: number }).n)).toEqual([0, 2]);
      await reopened.close();
    } finally {
      await back.stop();
    }
  }, 60_000);
});

describe('DBOS batch workflows', () => {
  it('runs every micro-batch as a DBOS workflow and ends with the same states as the in-memory engine', async () => {
    const url = inject('postgresUrl');
    const { pipeline } = await compilePipelineFile(join(root, 'pipelines/writing-observer.yaml'));
    const name = `dbos${Date.now()}`;
    const p = { ...pipeline!, name };
    const events = [...new Classroom({ students: 30, seed: 3 }).events(3000)].map((e) => e.event);

    const redis = await RedisStateStore.connect(inject('redisUrl'));
    const runner = new DbosBatchRunner(url);
    const engine = new Engine(p, { store: redis, log: await PostgresInputLog.open(url, name), runner, batchSize: 250 });
    for (let i = 0; i < events.length; i += 300) await engine.ingest('batch', events.slice(i, i + 300));
    await engine.flush();
    const got = await snapshot(redis, name);
    await engine.stop();

    const memory = new MemoryStateStore();
    const reference = new Engine(p, { store: memory });
    for (let i = 0; i < events.length; i += 300) await reference.ingest('batch', events.slice(i, i + 300));
    await reference.flush();
    expect(got).toEqual(await snapshot(memory, name));

    // DBOS recorded the batches as workflows, all finished.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ status: string; n: string }>(
      "SELECT status, count(*) AS n FROM dbos.workflow_status WHERE name = 'loflow.batch' AND workflow_uuid LIKE $1 GROUP BY status",
      [`${name}:%`],
    );
    await client.end();
    expect(rows.map((r) => r.status)).toEqual(['SUCCESS']);
    // A workflow takes at most batchSize events, or 4 x batchSize while the backlog exceeds that (catch-up).
    expect(Number(rows[0].n)).toBeGreaterThanOrEqual(events.length / (4 * 250));
    expect(runner.workflows).toBe(Number(rows[0].n));
  }, 60_000);
});
