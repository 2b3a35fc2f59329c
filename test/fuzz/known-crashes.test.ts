// Hardening issue #17: every input that once killed `loflow serve`, replayed one by one against a real child
// process. Each case must leave the process alive, /healthz answering, and the accepted events counted
// exactly once. (A case that kills the server fails alone: the next case starts a fresh one.) The fuzz test
// (network.fuzz.test.ts) searches for new ones; this file pins the ones found.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { assertAlive, closeCode, closeFrame, drained, get, metrics, rawHttp, rawWs, serveChild, sleep, text, type Served } from './harness.js';

let s: Served | undefined;
/** Accepted minus duplicates, as the server acknowledged them on this server instance (HTTP only). */
let acked = 0;

/** Up and healthy (a case that left the archive stopped gets a fresh server too). */
async function healthy(x: Served | undefined) {
  if (!x?.alive()) return false;
  return (await get(`${x.url}/healthz`, {}, 5000).then((r) => r.status, () => 0)) === 200;
}

beforeEach(async () => {
  if (!(await healthy(s))) {
    await s?.stop();
    s = await serveChild({ env: { LOFLOW_WS_TOKENS: 'tok-one:s-0001' } });
    acked = 0;
  }
});
afterAll(async () => {
  await s?.stop();
});

const teacher = 'demo-t-ada';
const live = `/v1/dashboards/overview/class-a/live?token=${teacher}`;

async function post(body: string, headers: Record<string, string> = {}) {
  const r = await get(`${s!.url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const json = (await r.json().catch(() => ({}))) as { accepted?: number; duplicates?: number };
  if (r.status === 200 || r.status === 207) acked += (json.accepted ?? 0) - (json.duplicates ?? 0);
  return { status: r.status, json };
}

/** Alive, healthy, everything acknowledged processed once: log end == acknowledged + WebSocket ingest. */
async function check(what: string) {
  await assertAlive(s!, what);
  const h = await drained(s!);
  await assertAlive(s!, `${what} (after processing)`);
  const m = await metrics(s!);
  const viaWs = m.get('loflow_events_in_total{source="extension"}') ?? 0;
  expect(m.get('loflow_events_in_total{source="batch"}') ?? 0, `${what}: events_in{batch} vs HTTP acks`).toBe(acked);
  expect(h.log_end, `${what}: log end vs acknowledged`).toBe(acked + viaWs);
  expect(h.processed, `${what}: processed`).toBe(h.log_end);
  for (const c of ['class-a', 'class-b']) expect((await get(`${s!.url}/v1/dashboards/overview/${c}?token=${teacher}`)).status).toBe(200);
}

const ks = (user: string, ts: unknown = 1_700_000_000_000, more: Record<string, unknown> = {}) => ({ event: 'keystroke', ts, auth: { user_id: user }, doc_id: 'd1', keystroke: { key: 'a' }, ...more });

describe('malformed WebSocket frames close the socket, never the process', () => {
  const targets = { ingest: '/wsapi/in/', live };
  const bad: Array<[string, () => Parameters<import('./harness.js').RawWs['send']>]> = [
    ['an invalid UTF-8 text frame', () => [text(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]))]],
    ['an unmasked client frame', () => [text('{"event":"x"}', { mask: false })]],
    ['a frame with RSV1 set', () => [text('{"event":"x"}', { rsv: 4 })]],
    ['a frame with RSV3 set', () => [text('{"event":"x"}', { rsv: 1 })]],
    ['a reserved opcode (3)', () => [text('{}', { opcode: 3 })]],
    ['a control frame over 125 bytes', () => [{ fin: true, rsv: 0, opcode: 9, mask: true, payload: Buffer.alloc(200, 1) }]],
    ['a fragmented control frame', () => [{ fin: false, rsv: 0, opcode: 10, mask: true, payload: Buffer.from('x') }]],
    ['a continuation with nothing to continue', () => [text('{}', { opcode: 0 })]],
    ['a new text frame inside a fragmented message', () => [text('{"a":', { fin: false }), text('1}')]],
    ['a close frame with an invalid code (999)', () => [closeFrame(999)]],
    ['a close frame with a 1-byte payload', () => [{ fin: true, rsv: 0, opcode: 8, mask: true, payload: Buffer.from([3]) }]],
    ['a close frame with an invalid UTF-8 reason', () => [closeFrame(1000, '\u00ff', { payload: Buffer.from([0x03, 0xe8, 0xff]) })]],
    ['a 64-bit length with the top bit set', () => [Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])]],
  ];
  for (const [where, target] of Object.entries(targets)) {
    for (const [name, frames] of bad) {
      it(`${where}: ${name}`, async () => {
        const ws = await rawWs(s!.port, target);
        expect(ws.status).toBe(101);
        ws.send(...frames());
        await ws.closed(3000);
        ws.destroy();
        await check(`${name} on ${where}`);
      });
    }

    it(`${where}: a message over 256 KiB is closed with 1009 (message too big)`, async () => {
      const ws = await rawWs(s!.port, target);
      expect(ws.status).toBe(101);
      ws.send(text(JSON.stringify({ event: 'keystroke', pad: 'x'.repeat(300 * 1024) })));
      expect(await ws.closed(5000)).toBe(true);
      const close = ws.frames().find((f) => f.opcode === 8);
      expect(close && closeCode(close)).toBe(1009);
      await check(`an oversized message on ${where}`);
    });
  }
});

describe('odd upgrade request targets answer an error, never kill the process', () => {
  const targets = [
    '/v1/dashboards/o/%E0%A4%A/live',
    `/v1/dashboards/%E0%A4%A/class-a/live?token=${teacher}`,
    '/v1/dashboards/overview/%/live',
    '//x:99999/wsapi/in/',
    'http://[/wsapi/in/',
    'http://127.0.0.1:99999/wsapi/in/',
    'http://127.0.0.1/wsapi/in/',
    '/wsapi/in/?token=%E0%A4%A',
    '/wsapi/in/?%=%',
    '*',
    `/v1/dashboards/__proto__/constructor/live?token=${teacher}`,
    '/v1/dashboards/overview/class-a/live?token=__proto__',
    '/v1/dashboards/overview/class-a/live?token=toString',
  ];
  for (const t of targets) {
    it(`GET ${t} (upgrade)`, async () => {
      const ws = await rawWs(s!.port, t, 5000);
      ws.destroy();
      await check(`an upgrade to ${t}`);
    });
  }
  it('a plain request line with an absolute-form target and an invalid port', async () => {
    await rawHttp(s!.port, 'GET http://127.0.0.1:99999/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await rawHttp(s!.port, 'GET //x:99999/v1/dashboards HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await check('absolute-form plain requests');
  });
});

describe('hostile event contents are accepted or rejected, never fatal', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const deepObj = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  it('5,000 levels of nesting, over HTTP and WebSocket', async () => {
    await post(`[{"event":"keystroke","ts":1,"auth":{"user_id":"s-0000"},"deep":${deep(5000)}}]`);
    await post(`{"event":"keystroke","ts":2,"auth":{"user_id":"s-0000"},"deep":${deepObj(5000)}}`);
    await post(deep(5000));
    const ws = await rawWs(s!.port, '/wsapi/in/');
    ws.send(text(`{"event":"keystroke","user_id":"s-0004","deep":${deepObj(5000)}}`), text(deep(5000)));
    await sleep(300);
    ws.destroy();
    await check('deeply nested events');
  });

  it('outlier timestamps (9e15, 1e400, -1e308, 1e-320, 2^53+1)', async () => {
    for (const ts of ['9e15', '1e400', '-1e400', '-1e308', '1e-320', '9007199254740993', '-0', '8.64e15', '8.640000000000001e15']) {
      await post(`[{"event":"keystroke","ts":${ts},"auth":{"user_id":"s-0000"},"doc_id":"d","keystroke":{"key":"a"}},{"event":"google_docs_save","ts":${ts},"auth":{"user_id":"s-0000"},"doc_id":"d","bundles":[{"commands":[{"ty":"is","ibi":1,"s":"x"}]}]}]`);
    }
    await post(JSON.stringify([ks('s-0000', 1_700_000_000_000)])); // a normal one after
    await check('outlier timestamps');
  });

  it('__proto__, constructor and toString as user ids, documents, events, fields, tokens and dashboard names', async () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];
    for (const n of names) {
      await post(JSON.stringify([ks(n), ks('s-0000', 1_700_000_000_001, { doc_id: n }), { event: n, ts: 1, auth: { user_id: 's-0000' } }]));
      await post(`[{"event":"keystroke","ts":1,"auth":{"user_id":"s-0000"},"${n}":{"x":1},"keystroke":{"${n}":1}}]`);
      await post(JSON.stringify([ks('s-0000')]), { authorization: `Bearer ${n}` });
      await get(`${s!.url}/v1/events?token=${n}`, { method: 'POST', body: JSON.stringify([ks('s-0001')]) }).then((r) => r.json()).then((j: any) => (acked += j.accepted ?? 0));
      for (const path of [`/v1/dashboards/${n}/class-a`, `/v1/dashboards/overview/${n}`, `/v1/dashboards/overview/class-a?token=${n}`, `/v1/dashboards?token=${n}`, `/v1/dashboards/${n}/${n}/events?token=${teacher}`, `/v1/tap/${n}?token=${n}`]) {
        const r = await get(`${s!.url}${path}`, { headers: { authorization: `Bearer ${teacher}` } }, 5000);
        await r.body?.cancel();
      }
      const ws = await rawWs(s!.port, `/wsapi/in/?token=${n}`);
      ws.send(text(JSON.stringify({ event: 'lock_fields', fields: { user_id: n, [n]: 1 } })), text(`{"event":"keystroke","${n}":{"${n}":1}}`));
      await sleep(100);
      ws.destroy();
      const ws2 = await rawWs(s!.port, '/wsapi/in/');
      ws2.send(text(`{"event":"lock_fields","fields":{"__proto__":{"user_id":"s-0002"}}}`), text(`{"event":"keystroke","user_id":"${n}"}`));
      await sleep(100);
      ws2.destroy();
    }
    await check('prototype names');
  });
});
