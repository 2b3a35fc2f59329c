// One student is one key whichever identity arrives: a roster's `aliases:` columns (Google id, email) map a
// WebSocket identity gc-<Google id>, an email or ls-<tag> to the roster's member id; typos and ambiguous
// aliases are compile errors.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/runtime.js';
import { startServer } from '../../engine/server/index.js';
import { frame, rawWs } from '../hardening/raw-ws.js';
import { until } from '../hardening/serve-child.js';
import { aliasPipeline, aliasRoster } from './alias-fixture.js';

const send = (o: unknown) => frame(1, JSON.stringify(o));

describe('roster identity aliases', () => {
  it('resolve gc-<Google id>, an email (any case), a prefixed cell and the member id itself to the member', async () => {
    const { pipeline, errors } = await aliasPipeline();
    expect(errors).toEqual([]);
    const r = pipeline!.identities!;
    expect(r.resolve('gc-104729')).toBe('s-0001');
    expect(r.resolve('104729')).toBe('s-0001');
    expect(r.resolve('ada@school.org')).toBe('s-0001');
    expect(r.resolve('ADA@SCHOOL.ORG')).toBe('s-0001');
    expect(r.resolve('gc-2203')).toBe('s-0002'); // the cell says gc-2203
    expect(r.resolve('2203')).toBe('s-0002');
    expect(r.resolve('ls-dev-cy')).toBe('s-0003');
    expect(r.resolve('s-0002')).toBe('s-0002');
    expect(r.resolve('ls-s-0002')).toBeUndefined(); // a prefix is stripped only for aliases
    expect(r.resolve('gc-999')).toBeUndefined();
  });

  it('an unknown alias column and an alias naming two members are compile errors', async () => {
    const typo = await aliasPipeline(aliasRoster, '[google_id, emial]');
    expect(typo.pipeline).toBeUndefined();
    expect(typo.errors.map((e) => e.message).join('\n')).toMatch(/roster 'demo' has no column 'emial'/);
    const twice = await aliasPipeline(aliasRoster + 's-0004,class-b,t-bo,Di,104729,\n');
    expect(twice.errors.map((e) => e.message).join('\n')).toMatch(/google_id '104729' names two members \('s-0001' and 's-0004'\)/);
    const other = await aliasPipeline(aliasRoster + 's-0005,class-b,t-bo,Ed,s-0001,\n');
    expect(other.errors.map((e) => e.message).join('\n')).toMatch(/google_id 's-0001' of member 's-0005' is the id of another member/);
    const notList = await aliasPipeline(aliasRoster, 'google_id');
    expect(notList.errors.map((e) => `${e.path}: ${e.message}`)).toContain('rosters.demo.aliases: must be array');
  });

  it('a Chromebook identity and an email claim of the same student count under one key', async () => {
    const { pipeline } = await aliasPipeline();
    const engine = new Engine(pipeline!);
    await engine.start();
    const s = await startServer({ pipeline: pipeline!, engine, port: 0, auth: { wsMethods: ['chromebook', 'test'], deviceTags: ['dev-1'] } });
    try {
      const port = Number(new URL(s.url).port);
      const seen: any[] = [];
      engine.on('ingested', (_s: string, events: any[]) => seen.push(...events));
      const chromebook = await rawWs(port, '/wsapi/in/');
      chromebook.write(send({ event: 'keystroke', ts: 1, doc_id: 'd1', keystroke: { type: 'keydown', key: 'a' } }));
      chromebook.write(send({ event: 'lock_fields', fields: { chrome_identity: { email: '', id: '104729' }, user_tag: 'dev-1' } }));
      expect(await chromebook.nextJson()).toEqual({ status: 'auth', user_id: 's-0001' });
      const email = await rawWs(port, '/wsapi/in/');
      email.write(send({ event: 'lock_fields', fields: { chrome_identity: { email: 'ADA@school.org' } } }));
      expect(await email.nextJson()).toEqual({ status: 'auth', user_id: 's-0001' });
      email.write(send({ event: 'keystroke', ts: 2, doc_id: 'd1', keystroke: { type: 'keydown', key: 'b' } }));
      await until(() => seen.length === 2);
      expect(seen.map((e) => e.auth)).toEqual([
        { user_id: 's-0001', method: 'chromebook', authenticated: true, identity: 'gc-104729' },
        { user_id: 's-0001', method: 'test', authenticated: false, identity: 'ADA@school.org' },
      ]);
      await engine.flush();
      expect(engine.view('events', 's-0001')).toBe(2);
      expect(engine.keys('events')).toEqual(['s-0001']);
      chromebook.socket.destroy();
      email.socket.destroy();
    } finally {
      await s.stop();
      await engine.stop();
    }
  });

  it('an HTTP batch naming the student by Google id or email counts under the member id too', async () => {
    const { pipeline } = await aliasPipeline();
    const engine = new Engine(pipeline!);
    await engine.start();
    const s = await startServer({ pipeline: pipeline!, engine, port: 0 });
    try {
      const ev = (user: string, ts: number) => ({ event: 'keystroke', ts, auth: { user_id: user }, doc_id: 'd1', keystroke: { type: 'keydown', key: 'a' } });
      const res = await fetch(`${s.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([ev('gc-104729', 1), ev('ADA@school.org', 2), ev('s-0001', 3), ev('gc-2203', 4)]) });
      expect(res.status, await res.clone().text()).toBe(200);
      await engine.flush();
      expect(engine.view('events', 's-0001')).toBe(3);
      expect(engine.view('events', 's-0002')).toBe(1);
      expect(engine.keys('events').sort()).toEqual(['s-0001', 's-0002']);
      // The class lookup goes through the member too: both students are in class-a's aggregate.
      const agg = engine.aggregate('class_overview', 'class-a') as any;
      expect(JSON.stringify(agg)).toContain('s-0001');
    } finally {
      await s.stop();
      await engine.stop();
    }
  });
});
