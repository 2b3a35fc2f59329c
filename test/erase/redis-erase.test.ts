// The Redis places of `loflow erase`, one by one against a real Redis: states of every version (key L and
// composite keys with L), the composite-key index (L's own sets deleted, L's keys removed from the other
// parts' sets), outbox entries (L's derived events cut out, the entry kept), the dead-letter stream, and
// the Redis Stream input log (entries rebuilt as tombstones at their ids: offsets stay dense).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { learnerMatch } from '../../engine/erase/match.js';
import { isErased } from '../../engine/erase/tombstone.js';
import { RedisInputLog } from '../../engine/log/redis-log.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { CompiledPipeline, LoggedEvent } from '../../engine/types.js';
import { pathKey, pipelineOf } from '../runtime/pipeline-fixture.js';

const L = 's-7';
const who = (name: string) => learnerMatch({ ...pipelineOf([]), name, keys: new Map([['student', pathKey('student', '$.auth.user_id')]]) } as CompiledPipeline, L);
const ev = (offset: number, user: string): LoggedEvent => ({ offset, stream: 'extension', at: 1000 + offset, event: { event: 'x', auth: { user_id: user } } });

describe('erase in Redis', () => {
  it('removes states of every version, index entries, outbox events and dead letters of the learner only', async () => {
    const name = `erase-${randomBytes(4).toString('hex')}`;
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const ref = (reducer: string, version: string, key: string) => ({ pipeline: name, reducer, version, key });
    await store.commit({
      pipeline: name,
      offset: 3,
      from: 0,
      writes: [
        [ref('count', 'v1', L), 1],
        [ref('count', 'v2', L), 2],
        [ref('count', 'v2', 's-70'), 3],
        [ref('text', 'v1', `${L}|doc-1`), { t: 'mine' }],
        [ref('text', 'v1', 's-8|doc-1'), { t: 'theirs' }],
      ],
      outbox: { to: 3, streams: { burst: [ev(1, L), ev(2, 's-8')] } },
      deadLetters: [{ stream: 'extension', event: { auth: { user_id: L } }, reason: 'bad', at: 1, stage: 'ingest' }, { stream: 'extension', event: { auth: { user_id: 's-8' } }, reason: 'bad', at: 1, stage: 'ingest' }],
    });
    const plan = await store.eraseLearner(name, who(name), true);
    expect(plan).toEqual({ states: 3, indexEntries: 2, outboxEvents: 1, deadLetters: 1 });
    expect(await store.eraseLearner(name, who(name), false)).toEqual(plan);
    expect(await store.load([ref('count', 'v1', L), ref('count', 'v2', L), ref('text', 'v1', `${L}|doc-1`)])).toEqual([undefined, undefined, undefined]);
    expect(await store.load([ref('count', 'v2', 's-70'), ref('text', 'v1', 's-8|doc-1')])).toEqual([3, { t: 'theirs' }]);
    expect(await store.keysWithPart(name, [{ reducer: 'text', version: 'v1', part: 'doc-1' }, { reducer: 'text', version: 'v1', part: L }])).toEqual([['s-8|doc-1'], []]);
    expect((await store.outbox(name))[0].streams.burst.map((e) => e.event.auth.user_id)).toEqual(['s-8']);
    const letters = await store.redis.xrange(`lf:{${name}}:dl`, '-', '+');
    expect(letters.map(([, f]) => JSON.parse(f[1]).event.auth.user_id)).toEqual(['s-8']);
    expect(await store.eraseLearner(name, who(name), false)).toEqual({ states: 0, indexEntries: 0, outboxEvents: 0, deadLetters: 0 });
    await store.close();
  });

  it('the Redis Stream log: entries become tombstones at their ids, and reads give them at dense offsets', async () => {
    const tag = `erase-log-${randomBytes(4).toString('hex')}`;
    const redis = new Redis(inject('redisUrl'));
    const { log } = await RedisInputLog.open(redis, tag, 'none');
    const users = Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? L : `s-${i + 10}`));
    await log.append(users.map((u, i) => ({ ...ev(i, u), producer: u === L ? L : 'other', seq: i })));
    const match = (e: LoggedEvent) => who(tag).event(e.event);
    expect(await log.erase(match, true)).toBe(4);
    expect(await log.erase(match, false)).toBe(4);
    expect(await redis.xlen(`lf:{${tag}}:in`)).toBe(10); // tombstones in place: offsets stay dense
    expect(await redis.hkeys(`lf:{${tag}}:prod`)).toEqual(['other']);
    expect(JSON.stringify(await redis.xrange(`lf:{${tag}}:in`, '-', '+'))).not.toContain(L); // nor in a tombstone's producer field // a producer id that is the learner's id goes too
    const fromTail = await log.read(0, 10);
    expect(fromTail.map((e) => (isErased(e) ? '-' : e.event.auth.user_id))).toEqual(users.map((u) => (u === L ? '-' : u)));
    // A second process reads from Redis: the tombstones (first, middle, last) at their offsets.
    const { log: fresh } = await RedisInputLog.open(redis, tag, 'none');
    const read = await fresh.read(0, 10);
    expect(read.map((e) => e.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(read.map((e) => (isErased(e) ? '-' : e.event.auth.user_id))).toEqual(users.map((u) => (u === L ? '-' : u)));
    expect((await fresh.read(8, 5)).map((e) => e.offset)).toEqual([8, 9]);
    expect(await fresh.erase(match, false)).toBe(0);
    redis.disconnect();
  });
});
