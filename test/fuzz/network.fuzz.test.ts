// Network fuzzing of a real `loflow serve` child (hardening issue #17): HTTP bodies and headers, raw
// request heads (odd paths, percent-encodings, absolute-form targets written by hand over node:net), upgrade
// requests, and raw WebSocket frame sequences on /wsapi/in/ and a dashboard's /live socket. After every case
// the process must be alive, /healthz answer 200, and every event the server acknowledged be counted exactly
// once (HTTP 200/207 `accepted` == events_in{batch}; log end == those + events_in{extension}; processed ==
// committed == log end after a drain; WebSocket events lie between what clean sessions certainly delivered
// and what was sent at all); every 15 cases and at the end of each property, RSS stays under a bound. A
// failed check gives the next case (and every shrinking step) a fresh server.
//
// Seeded: LOFLOW_FUZZ_SEED=<n> replays a run (the seed is printed, and named in every failure);
// LOFLOW_FUZZ_RUNS=<n> sets the cases per property (CI default: a few hundred in all, under a minute when
// the server is healthy). `npm run fuzz` runs the long version. A case that kills the server fails the
// property; fast-check then shrinks it against a fresh server (the harness restarts a dead one).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { body, eventCount, headerLines, method, protoNames, stepBytes, target, user, wsStep, type WsStep } from './arbitraries.js';
import { assertAlive, closeCode, drained, envInt, get, metrics, parseResponse, rawHttp, rawWs, rssOf, serveChild, sleep, text, type Served } from './harness.js';

const RUNS = envInt('LOFLOW_FUZZ_RUNS', 0);
// The quick run (npm test, CI) replays one fixed seed, so a red CI is a regression and not a new case found
// by chance; the long run (npm run fuzz) draws a new seed each time.
const SEED = envInt('LOFLOW_FUZZ_SEED', RUNS > 0 ? Date.now() % 2 ** 31 : 901180777);
const runs = (ci: number) => (RUNS > 0 ? RUNS : ci);
/** Wall-clock cap per property: a run never hangs CI, whatever it meets (long runs: none unless set). */
const TIME_LIMIT_MS = envInt('LOFLOW_FUZZ_TIME_LIMIT_MS', RUNS > 0 ? 0 : 30_000);
/**
 * RSS bound for the child during the fuzz. Measured on the demo pipeline (2-core CI box): about 110 MiB
 * idle and under 200 MiB through a CI run; 400 MiB leaves room for GC timing without hiding a leak that
 * keeps what a fuzz run sends (a few hundred MiB of frames and bodies in the long run).
 */
const RSS_BOUND = envInt('LOFLOW_FUZZ_RSS_MIB', 400) * 1024 * 1024;
const CHECK_EVERY = 15;

console.log(`network fuzz: seed ${SEED} (replay with LOFLOW_FUZZ_SEED=${SEED}), runs ${RUNS || 'CI defaults'}`);

/** The server under test and what it acknowledged since it started. */
class World {
  s!: Served;
  acked = 0;
  wsCertain = 0;
  wsPossible = 0;
  peakRss = 0;
  cases = 0;
  restarts = 0;
  last = '';

  async start() {
    this.s = await serveChild({ env: { LOFLOW_WS_TOKENS: 'tok-one:s-0001,__proto__:s-0002' } });
    this.acked = this.wsCertain = this.wsPossible = 0;
  }

  /** A check failed on this server: the next case gets a fresh one. */
  dirty = false;

  /**
   * A fresh server when the last case killed this one, left it unhealthy or failed a check on it, so every
   * case (and every shrinking step) starts from a server whose books balance.
   */
  async ensure() {
    const ok = !this.dirty && this.s.alive() && (await get(`${this.s.url}/healthz`, {}, 5000).then((r) => r.status === 200, () => false));
    if (ok) return;
    this.dirty = false;
    await this.s.stop();
    this.restarts++;
    await this.start();
  }

  /** After a case: alive, healthy and the accounting (RSS every CHECK_EVERY cases). */
  async after(what: string) {
    this.last = what;
    try {
      await assertAlive(this.s, what);
      await this.account(what, ++this.cases % CHECK_EVERY === 0);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  async account(what: string, rssToo = true) {
    let h = await drained(this.s);
    await assertAlive(this.s, `${what} (after processing)`);
    let m = await metrics(this.s);
    // A socket's last events can still be on their way into the engine after the queue looked drained (its
    // own batch, ingested and counted between the two reads): read both again until they agree, or 5 s.
    for (const end = Date.now() + 5000; Date.now() < end; ) {
      if (h.log_end === this.acked + (m.get('loflow_events_in_total{source="extension"}') ?? 0)) break;
      await new Promise((r) => setTimeout(r, 50));
      h = await drained(this.s);
      m = await metrics(this.s);
    }
    const viaWs = m.get('loflow_events_in_total{source="extension"}') ?? 0;
    const ctx = `after ${what} (seed ${SEED})`;
    expect(h.queue_depth, `queue drained ${ctx}`).toBe(0);
    expect(m.get('loflow_events_in_total{source="batch"}') ?? 0, `events_in{batch} == HTTP acknowledged ${ctx}`).toBe(this.acked);
    expect(h.log_end, `log end == acknowledged (HTTP ${this.acked} + WebSocket ${viaWs}) ${ctx}`).toBe(this.acked + viaWs);
    expect(h.processed, `processed == log end ${ctx}`).toBe(h.log_end);
    expect(h.committed_offset, `committed == log end ${ctx}`).toBe(h.log_end);
    expect(viaWs, `WebSocket events accepted >= delivered by clean sessions ${ctx}`).toBeGreaterThanOrEqual(this.wsCertain);
    expect(viaWs, `WebSocket events accepted <= sent ${ctx}`).toBeLessThanOrEqual(this.wsPossible);
    if (!rssToo) return;
    const rss = await rssOf(this.s);
    this.peakRss = Math.max(this.peakRss, rss);
    expect(rss, `RSS ${Math.round(rss / 2 ** 20)} MiB under ${RSS_BOUND / 2 ** 20} MiB ${ctx}`).toBeLessThan(RSS_BOUND);
  }

  /** Count an HTTP answer's acknowledged events (a 200/207 must say how many). */
  ack(status: number, json: string) {
    if (status !== 200 && status !== 207) return;
    let r: { accepted: number; duplicates?: number };
    try {
      r = JSON.parse(json) as typeof r;
    } catch {
      this.dirty = true;
      throw new Error(`a ${status} answer that is not JSON: ${json.slice(0, 300)}`);
    }
    this.acked += r.accepted - (r.duplicates ?? 0);
  }
}

const w = new World();
/** Shrinking restarts the server per step: interruptAfterTimeLimit bounds it too, so a failing CI run ends. */
const params = (numRuns: number): fc.Parameters<any> => ({
  seed: SEED,
  numRuns: runs(numRuns),
  ...(TIME_LIMIT_MS > 0 ? { interruptAfterTimeLimit: TIME_LIMIT_MS } : {}),
});

beforeAll(async () => {
  await w.start();
});
afterAll(async () => {
  console.log(`network fuzz: ${w.cases} cases, ${w.restarts} server restarts, peak RSS ${Math.round(w.peakRss / 2 ** 20)} MiB, seed ${SEED}`);
  await w.s?.stop();
});

const crlf = (lines: string[]) => lines.map((l) => `${l}\r\n`).join('');

describe('network fuzz against loflow serve', { timeout: 300_000 }, () => {
  it('HTTP batch ingest: bodies, headers and encodings', async () => {
    const headers = fc.array(
      fc.oneof(
        fc.constantFrom('Content-Type: application/json', 'Content-Type: application/x-ndjson', 'Content-Type: text/plain', 'Content-Type: application/json; charset=utf-16', 'Content-Encoding: gzip', 'Expect: 100-continue', 'Accept-Encoding: gzip'),
        user.map((u) => `Authorization: Bearer ${u.replace(/[\r\n\u0000-\u001f\u007f-\uffff]/g, '')}`),
        fc.tuple(fc.constantFrom('fuzz', ...protoNames), fc.oneof(fc.integer().map(String), fc.constantFrom('1e400', '-1', 'x', '9007199254740993'))).map(([p, q]) => `X-Loflow-Producer: ${p}\r\nX-Loflow-Seq: ${q}`),
      ),
      { maxLength: 3 },
    );
    const path = fc.constantFrom('/v1/events', '/v1/events?token=__proto__', '/v1/events?token=demo-t-ada', '/v1/events/', 'http://127.0.0.1/v1/events', '/v1//events', '/v1/events?token=%E0%A4%A');
    await fc.assert(
      fc.asyncProperty(body, headers, path, fc.boolean(), fc.integer({ min: 1, max: 64 }), async (b, hs, p, chunked, chunk) => {
        await w.ensure();
        let payload: Buffer;
        const head = [`POST ${p} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...hs];
        if (chunked) {
          const parts: Buffer[] = [];
          for (let i = 0; i < b.length; i += chunk) {
            const c = b.subarray(i, i + chunk);
            parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
          }
          parts.push(Buffer.from('0\r\n\r\n'));
          payload = Buffer.concat([Buffer.from(crlf([...head, 'Transfer-Encoding: chunked', ''])), ...parts]);
        } else payload = Buffer.concat([Buffer.from(crlf([...head, `Content-Length: ${b.length}`, ''])), b]);
        const r = await rawHttp(w.s.port, payload, 15_000);
        const what = `POST ${p} (${b.length} bytes${chunked ? ', chunked' : ''}): ${b.subarray(0, 120).toString('latin1')}`;
        expect(r.status, `no answer to a well-formed request: ${what} (seed ${SEED})`).toBeGreaterThan(0);
        expect(r.status, `a server error answered ${what}: ${r.body.slice(0, 300)} (seed ${SEED})`).toBeLessThan(500);
        w.ack(r.status, r.body);
        await w.after(what);
      }),
      params(150),
    );
    await w.account('the HTTP body property');
  });

  it('raw request heads: methods, odd and absolute-form targets, broken headers', async () => {
    const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 junk', 'HTTP/9', '');
    // Bodies never hold an event ('{', '[' left out), so nothing here can be accepted unseen.
    const junkBody = fc.string({ maxLength: 40 }).map((s) => s.replace(/[[{]/g, '('));
    await fc.assert(
      fc.asyncProperty(method, target, version, headerLines, junkBody, fc.boolean(), async (m, t, v, hs, jb, close) => {
        await w.ensure();
        const req = Buffer.from(`${m} ${t} ${v}\r\nHost: 127.0.0.1\r\n${close ? 'Connection: close\r\n' : ''}${crlf(hs)}\r\n${jb}`, 'latin1');
        const r = await rawHttp(w.s.port, req, 800);
        const what = `${m} ${t.slice(0, 200)} ${v} with headers ${JSON.stringify(hs.map((h) => h.slice(0, 60)))}`;
        if (r.status === 200 || r.status === 207) w.ack(r.status, r.body.startsWith('{"accepted"') ? r.body : '{"accepted":0}');
        await w.after(what);
      }),
      params(120),
    );
    await w.account('the raw request property');
  });

  it('upgrade requests on odd targets, then a few frames', async () => {
    const extra = fc.array(fc.constantFrom('Sec-WebSocket-Extensions: permessage-deflate', 'Sec-WebSocket-Protocol: x, __proto__', 'Origin: null', 'Authorization: Bearer demo-t-ada', 'Authorization: Bearer __proto__', 'Sec-WebSocket-Version: 8', 'Content-Length: 3'), { maxLength: 2 });
    await fc.assert(
      fc.asyncProperty(target, extra, fc.array(wsStep, { maxLength: 3 }), async (t, hs, steps) => {
        await w.ensure();
        const ws = await rawWs(w.s.port, t, 3000, hs);
        if (ws.status === 101) {
          for (const st of steps) {
            if (st.kind === 'pause') await sleep(st.ms);
            else ws.send(stepBytes(st));
            if (st.kind === 'frame') w.wsPossible += st.events;
          }
          await ws.closed(150);
        }
        ws.destroy();
        await w.after(`an upgrade to ${t.slice(0, 200)} (${ws.status}) with ${hs.join('; ')} then ${describeSteps(steps)}`);
      }),
      params(60),
    );
    await w.account('the upgrade property');
  });

  it('WebSocket frame sequences on /wsapi/in/ and a dashboard /live socket', async () => {
    const where = fc.constantFrom('/wsapi/in/', '/wsapi/in/', '/wsapi/in/?token=tok-one', '/wsapi/in/?token=nope', '/wsapi/in/?token=__proto__', '/v1/dashboards/overview/class-a/live?token=demo-t-ada');
    const identity = fc.option(
      fc.constantFrom('s-0000', 's-0003', 's-0004').map((u) => JSON.stringify({ event: 'lock_fields', fields: { user_id: u, source: 'fuzz' } })),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(where, identity, fc.array(wsStep, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.integer({ min: 1, max: 40 }), async (path, id, steps, terminate, split) => {
        await w.ensure();
        const ws = await rawWs(w.s.port, path, 5000);
        const what = `${path}: ${id ? 'identity, ' : ''}${describeSteps(steps)}${terminate ? ', terminate' : ''}`;
        expect(ws.status, `upgrade refused: ${what}`).toBe(path.includes('nope') ? 101 : 101);
        const ingest = path.startsWith('/wsapi/in/');
        // A clean session: identity first, only well-formed frames, no terminate inside, a terminate at the
        // end and the server's close 1000: every event it carried was ingested or answered 'rejected'.
        const clean = ingest && !path.includes('token=nope') && id !== undefined && terminate && steps.every((st) => st.kind === 'pause' || (st.kind === 'frame' && st.clean && !hasTerminate(st)));
        let sent = 0;
        const write = async (b: Buffer) => {
          // Written in pieces of `split` writes, so the server's parser sees frames cut anywhere.
          const piece = Math.max(1, Math.ceil(b.length / split));
          for (let i = 0; i < b.length; i += piece) {
            ws.send(b.subarray(i, i + piece));
            if (split > 1 && i % 7 === 0) await new Promise((r) => setImmediate(r));
          }
        };
        if (id) await write(stepBytes({ kind: 'frame', frame: text(id), events: 0, clean: true }));
        for (const st of steps) {
          if (st.kind === 'pause') await sleep(st.ms);
          else await write(stepBytes(st));
          if (st.kind === 'frame') sent += st.events;
        }
        if (terminate) await write(stepBytes({ kind: 'frame', frame: text('{"event":"terminate"}'), events: 0, clean: true }));
        if (ingest) w.wsPossible += sent;
        // The server sends its close frame and then waits for ours (the close handshake): the frame is the answer.
        const close = clean ? await ws.closeFrame(10_000) : (await ws.closed(150), null);
        const frames = ws.frames();
        if (clean) {
          expect(close && closeCode(close), `a clean session ends with close 1000: ${what}`).toBe(1000);
          const rejected = frames.filter((f) => f.opcode === 1 && /"status":"(rejected|error)"/.test(f.payload.toString())).length;
          w.wsCertain += sent - rejected;
        }
        if (frames.some((f) => f.opcode === 8 && closeCode(f) === 1011)) throw new Error(`the server closed with 1011 (internal error): ${what}`);
        ws.destroy();
        await w.after(what);
      }),
      params(100),
    );
    await w.account('the WebSocket frame property');
  });
});

function hasTerminate(st: WsStep): boolean {
  if (st.kind !== 'frame' || st.frame.opcode !== 1) return st.kind === 'frame' && st.frame.opcode === -1 && st.frame.payload.includes('terminate');
  return st.frame.payload.includes('"terminate"');
}

function describeSteps(steps: WsStep[]): string {
  return (
    steps
      .map((s) => {
        if (s.kind === 'pause') return `pause ${s.ms} ms`;
        if (s.kind === 'raw') return `raw ${s.bytes.subarray(0, 16).toString('hex')}${s.bytes.length > 16 ? '…' : ''}`;
        const f = s.frame;
        if (f.opcode === -1) return `fragments (${f.payload.length} bytes)`;
        return `frame op ${f.opcode}${f.fin ? '' : ' !fin'}${f.rsv ? ` rsv ${f.rsv}` : ''}${f.mask ? '' : ' unmasked'}${f.lie ? ` len${f.lie > 0 ? '+' : ''}${f.lie}` : ''}${f.len && f.len !== 'auto' ? ` len${f.len}` : ''} ${JSON.stringify(f.payload.subarray(0, 40).toString('latin1'))}${f.payload.length > 40 ? `…(${f.payload.length})` : ''}`;
      })
      .join(', ') || 'no frames'
  );
}

void eventCount;
void parseResponse;
