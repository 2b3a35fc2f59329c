// WebSocket identity as Learning Observer's event-auth methods name it: chromebook (gc-<Google id>),
// local_storage (ls-<user_tag>), test, guest; authenticated only by a token or a listed device tag, and a
// deployment that requires authentication refuses the rest (their held events become dead letters).
import { describe, expect, it } from 'vitest';
import { frame, rawWs } from '../hardening/raw-ws.js';
import { until } from '../hardening/serve-child.js';
import { demoServer } from './server-fixture.js';

const send = (o: unknown) => frame(1, JSON.stringify(o));
const keystroke = (ts: number) => send({ event: 'keystroke', ts, doc_id: 'd1', keystroke: { key: 'a' } });
const portOf = (url: string) => Number(new URL(url).port);

describe('WebSocket identity methods', () => {
  it('names a Chromebook student gc-<id> even with an empty email, authenticated when its device tag is listed', async () => {
    const s = await demoServer({ auth: { wsMethods: ['chromebook', 'local_storage', 'test'], deviceTags: ['dev-1'] } });
    try {
      const seen: any[] = [];
      s.engine.on('ingested', (_stream: string, events: any[]) => seen.push(...events));
      const listed = await rawWs(portOf(s.url), '/wsapi/in/');
      listed.write(keystroke(1)); // before identity, as lo_event sends its queue first
      listed.write(send({ event: 'lock_fields', fields: { chrome_identity: { email: '', id: '104729' }, localStorageInfo: { user_tag: 'dev-1' } } }));
      expect(await listed.nextJson()).toEqual({ status: 'auth', user_id: 'gc-104729' });
      const unlisted = await rawWs(portOf(s.url), '/wsapi/in/');
      unlisted.write(send({ event: 'lock_fields', fields: { user_tag: 'dev-9' } }));
      expect(await unlisted.nextJson()).toEqual({ status: 'auth', user_id: 'ls-dev-9' });
      unlisted.write(keystroke(2));
      await until(() => seen.length === 2);
      expect(seen.map((e) => e.auth)).toEqual([
        { user_id: 'gc-104729', method: 'chromebook', authenticated: true },
        { user_id: 'ls-dev-9', method: 'local_storage', authenticated: false },
      ]);
      listed.socket.destroy();
      unlisted.socket.destroy();
    } finally {
      await s.close();
    }
  });

  it('the test method takes chrome_identity.id when the email is empty', async () => {
    const s = await demoServer();
    try {
      const c = await rawWs(portOf(s.url), '/wsapi/in/');
      c.write(send({ event: 'lock_fields', fields: { chrome_identity: { email: '', id: 's-0003' } } }));
      expect(await c.nextJson()).toEqual({ status: 'auth', user_id: 's-0003' });
      c.socket.destroy();
    } finally {
      await s.close();
    }
  });

  it('with requireAuthenticated, refuses a claimed identity (4401) and dead-letters what it held', async () => {
    const s = await demoServer({ auth: { wsMethods: ['chromebook', 'test'], deviceTags: ['dev-1'], requireAuthenticated: true } });
    try {
      const c = await rawWs(portOf(s.url), '/wsapi/in/');
      c.write(keystroke(1));
      c.write(keystroke(2));
      c.write(send({ event: 'lock_fields', fields: { user_id: 's-0001' } }));
      expect(await c.closed).toBe(4401);
      const letters = await until(async () => {
        const l = (await s.engine.deadLetters.list()).filter((x) => /^not authenticated: test identity 's-0001'/.test(x.reason));
        return l.length === 2 && l;
      });
      expect(letters[0].event).toMatchObject({ event: 'keystroke', connection: expect.objectContaining({ ip: '127.0.0.1' }) });
      expect(s.engine.stats().ingested).toBe(0);
    } finally {
      await s.close();
    }
  });
});
