// The open-loop load generator against a tiny server that counts what it receives (no timing asserted):
// every event it says it sent arrived, acknowledgements are counted only for 200s, and a stop ends a run.
import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpLoad } from '../../bench/http-load.js';

describe('HttpLoad', () => {
  let received = 0;
  let refuse = false;
  const keys = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const events = JSON.parse(body) as Array<{ auth: { user_id: string } }>;
      received += events.length;
      keys.add(String(req.headers.authorization));
      for (const e of events) if (!e.auth.user_id.startsWith('s-')) throw new Error('bad event');
      res.statusCode = refuse ? 429 : 200;
      res.end('{}');
    });
  });
  const url = new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)));
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends batches of events that all arrive, spread over its keys, and counts acknowledged ones', async () => {
    const load = new HttpLoad(await url, ['s-1', 's-2', 's-3'], ['k1', 'k2'], 4);
    const sent = await load.run(5000, 0.3);
    load.close();
    expect(sent).toBeGreaterThan(0);
    expect(sent % HttpLoad.batch).toBe(0);
    expect(received).toBe(sent);
    expect(load.accepted).toBe(sent);
    expect(load.failed).toBe(0);
    expect([...keys].sort()).toEqual(['Bearer k1', 'Bearer k2']);
  });

  it('counts refused requests as failed, not accepted; stop() ends a run early', async () => {
    refuse = true;
    received = 0;
    const load = new HttpLoad(await url, ['s-1'], ['k'], 2);
    const run = load.run(Infinity, 60);
    setTimeout(() => load.stop(), 100);
    const sent = await run;
    load.close();
    expect(sent).toBeGreaterThan(0);
    expect(received).toBe(sent);
    expect(load.accepted).toBe(0);
    expect(load.failed).toBe(sent / HttpLoad.batch);
  });
});
