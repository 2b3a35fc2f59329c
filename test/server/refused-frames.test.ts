// Events that reach a socket after it was refused (the rest of the frame that got it refused, frames
// already on the way) are counted and kept as dead letters with the refusal's reason: none is dropped
// silently (they were before).
import { describe, expect, it } from 'vitest';
import { frame, rawWs } from '../hardening/raw-ws.js';
import { until } from '../hardening/serve-child.js';
import { demoServer } from './server-fixture.js';

const keystroke = (n: number) => ({ event: 'keystroke', ts: n, doc_id: 'd1', keystroke: { key: 'a' }, n });

describe('events after a refusal', () => {
  it('are dead letters with the reason, and counted', async () => {
    const s = await demoServer({ auth: { wsMethods: ['test'], requireAuthenticated: true } });
    try {
      const c = await rawWs(Number(new URL(s.url).port), '/wsapi/in/');
      // One write: a frame whose lock_fields gets the socket refused, then a frame already on the way.
      c.write(Buffer.concat([
        frame(1, JSON.stringify([keystroke(1), { event: 'lock_fields', fields: { user_id: 's-0001' } }, keystroke(2), keystroke(3)])),
        frame(1, JSON.stringify(keystroke(4))),
      ]));
      expect(await c.closed).toBe(4401);
      const letters = await until(async () => {
        const l = await s.engine.deadLetters.list();
        return l.length === 4 && l;
      });
      expect(letters.map((l: any) => [l.event.n, l.reason.replace(/ \(.*/, '').replace(/:.*/, '')])).toEqual([
        [1, 'not authenticated'],
        [2, 'sent after the connection was refused'],
        [3, 'sent after the connection was refused'],
        [4, 'sent after the connection was refused'],
      ]);
      expect(letters[3].reason).toBe("sent after the connection was refused (not authenticated: test identity 's-0001' is not verified)");
      expect(letters[3].event).toMatchObject({ user_id: 's-0001', connection: expect.objectContaining({ ip: '127.0.0.1' }) });
      const metrics = await (await s.get('/metrics')).text();
      expect(metrics).toMatch(/loflow_events_rejected_total\{source="extension",reason="after_refusal"\} 3\n/);
      expect(s.engine.stats().ingested).toBe(0);
    } finally {
      await s.close();
    }
  });
});
