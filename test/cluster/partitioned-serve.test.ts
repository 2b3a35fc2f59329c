// `serve --role all` with P > 1 and `--checkpoint redis` (docs/scale-out.md §3-4): one Redis Stream and cursor
// per partition (lf:{<pl>:p<N>}:in), the meta record written at the first start and checked by every later
// one (a node with another P is refused before it touches anything), and the --role flag's refusals.
import { describe, expect, inject, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { partitionOf } from '../../engine/partition.js';
import { classroomEvents, feedAndDrain, uniqueName } from '../cli/cluster-fixture.js';
import { run } from '../cli/run-cli.js';
import { serveChild } from '../hardening/serve-child.js';
import { partitionedDemo } from './worker-fixture.js';

describe('serve --role all, P = 4, --checkpoint redis', () => {
  it('keeps one stream per partition, records P and the routing key, and refuses a node that counts otherwise', async () => {
    const name = uniqueName('ps');
    const { file, dir } = await partitionedDemo(name, 4);
    const url = inject('redisUrl');
    const events = classroomEvents(1200, 4);
    const s = await serveChild(['--state', url, '--checkpoint', 'redis', '--durability', 'none'], {}, file);
    try {
      await feedAndDrain(s, events);
    } finally {
      await s.stop();
    }
    const raw = new Redis(url);
    try {
      const want = [0, 1, 2, 3].map((n) => events.filter((e) => partitionOf((e as any).auth.user_id, 4) === n).length);
      const lens = await Promise.all([0, 1, 2, 3].map((n) => raw.hget(`lf:{${name}:p${n}}:cur`, 'end')));
      expect(lens.map(Number)).toEqual(want);
      expect(await raw.exists(`lf:{${name}}:in`)).toBe(0); // nothing under the unpartitioned name
      expect(await raw.hgetall(`lf:{${name}}:meta`)).toMatchObject({ P: '4', by: 'student', hash: 'fnv1a32' });
    } finally {
      raw.disconnect();
    }
    // Same name, P = 2: refused by serve (both roles), nothing opened.
    const two = `${dir}/two.yaml`;
    writeFileSync(two, readFileSync(file, 'utf8').replace('partitions: { count: 4 }', 'partitions: { count: 2 }'));
    for (const role of ['all', 'worker']) {
      const r = await run('serve', two, '--role', role, '--state', url, '--checkpoint', 'redis', '--durability', 'none', '--port', '0');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`'${name}' is partitioned in Redis as P=4 by student \\(fnv1a32\\), but this pipeline file says P=2 by student`));
    }
  }, 90_000);

  it('--role takes all, worker, ingest and dashboard; unknown roles and bad combinations are refused with the reason', async () => {
    const { file } = await partitionedDemo(uniqueName('pr'), 4);
    const cases: Array<[string[], RegExp]> = [
      [['--role', 'ingest'], /--role ingest works on the pipeline's Redis: give --state/],
      [['--role', 'teacher'], /unknown role 'teacher': use all, worker, ingest, dashboard or ingest,dashboard/],
      [['--role', 'ingest,worker'], /unknown role 'ingest,worker'/],
      [['--role', 'worker'], /a worker keeps states, cursors and leases in Redis: give --state/],
      [['--role', 'worker', '--state', inject('redisUrl'), '--checkpoint', 'file:/tmp/x'], /--checkpoint must be redis/],
      [['--role', 'worker', '--state', inject('redisUrl'), '--watch'], /--watch reloads one process/],
    ];
    for (const [args, why] of cases) {
      const r = await run('serve', file, '--port', '0', ...args);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(why)]);
    }
    // Workers archive per partition in plaintext only: a master key is refused (encrypted parts are not built).
    const { file: archived, dir: adir } = await partitionedDemo(uniqueName('pa'), 4, { archive: true });
    const key = join(adir, 'master.key');
    writeFileSync(key, randomBytes(32).toString('hex'));
    const enc = await run('serve', archived, '--role', 'worker', '--state', inject('redisUrl'), '--master-key-file', key, '--port', '0');
    expect([enc.code, enc.stderr]).toEqual([2, expect.stringMatching(/an encrypted archive of a partitioned pipeline is not built yet/)]);
  }, 60_000);
});
