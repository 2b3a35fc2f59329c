// Shared by the fuzz and resource tests: a real `loflow serve` child (started through bash so its fd limit
// can be raised with `ulimit -n` for it alone, stopped by PID), Prometheus and /healthz readers, the child's
// RSS from /proc, raw HTTP over node:net (request lines written by hand: absolute-form targets, odd paths,
// broken headers) and raw WebSocket frames after a hand-made upgrade handshake. Every socket goes to
// 127.0.0.1 and every wait is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import WebSocket from 'ws';
import type { Health } from '../../bench/serve-child.js';

export const root = join(import.meta.dirname, '../..');
/** The loflow under test; LOFLOW_FUZZ_BIN runs the suite against another build (e.g. an older commit's). */
export const bin = process.env.LOFLOW_FUZZ_BIN ?? join(root, 'bin/loflow.js');
export const demoPipeline = join(root, 'pipelines/writing-observer.yaml');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run counts and seeds from the environment (npm run fuzz sets a long run). */
export const envInt = (name: string, dflt: number) => {
  const v = process.env[name];
  return v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : dflt;
};

export interface Served {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Still running (no exit seen and the PID answers signal 0). */
  alive(): boolean;
  /** Exit code / signal and the last stderr, for failure messages. */
  died(): string;
  /** A full garbage collection in the child (needs `inspect: true`): through the inspector, HeapProfiler.collectGarbage. */
  gc(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `loflow serve` in its own process. `pipelineText` replaces the demo pipeline (written next to a copy of
 * the demo roster); `nofile` raises the child's fd limit through bash's ulimit (never this process's).
 */
export async function serveChild(opts: { env?: Record<string, string>; args?: string[]; nofile?: number; pipelineText?: (demo: string) => string; rosterCsv?: string; inspect?: boolean } = {}): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-fuzz-'));
  let pipelineFile = demoPipeline;
  if (opts.pipelineText || opts.rosterCsv) {
    writeFileSync(join(dir, 'roster.csv'), opts.rosterCsv ?? readFileSync(join(root, 'pipelines/rosters/demo.csv'), 'utf8'));
    const text = readFileSync(demoPipeline, 'utf8').replace('rosters/demo.csv', 'roster.csv');
    pipelineFile = join(dir, 'p.yaml');
    writeFileSync(pipelineFile, opts.pipelineText ? opts.pipelineText(text) : text);
  }
  const argv = [process.execPath, ...(opts.inspect ? ['--inspect=127.0.0.1:0'] : []), bin, 'serve', pipelineFile, '--port', '0', '--data', join(dir, 'data'), '--demo-tokens', '--demo', ...(opts.args ?? [])];
  const script = `${opts.nofile ? `ulimit -n ${opts.nofile} || exit 97; ` : ''}exec "$@"`;
  const child = spawn('bash', ['-c', script, 'loflow-serve', ...argv], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOFLOW_LOG_LEVEL: process.env.LOFLOW_LOG_LEVEL ?? 'warn', ...opts.env },
  });
  let err = '';
  let exit: string | undefined;
  let inspector: string | undefined;
  child.stderr!.on('data', (d) => {
    err = (err + d).slice(-6000);
    inspector ??= /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(err)?.[1];
  });
  const exited = new Promise<void>((r) =>
    child.once('exit', (code, signal) => {
      exit = `exit code ${code} signal ${signal}`;
      r();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`loflow serve not live after 60 s: ${err}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining: the child must never block on a full pipe
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`loflow serve exited (${code}) before it was live: ${err.trim()}`));
    });
  });
  const pid = child.pid!;
  const alive = () => {
    if (exit !== undefined) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    url,
    port: Number(new URL(url).port),
    pid,
    child,
    alive,
    died: () => `${exit ?? 'still running'}; stderr: ${err.trim().slice(-3000)}`,
    gc: () =>
      new Promise<void>((resolve, reject) => {
        if (!inspector) return reject(new Error('serveChild: start with inspect: true to collect garbage'));
        const ws = new WebSocket(inspector);
        const timer = setTimeout(() => {
          ws.terminate();
          reject(new Error('inspector: no answer in 15 s'));
        }, 15_000);
        ws.on('error', reject);
        ws.on('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
        ws.on('message', (m) => {
          const id = (JSON.parse(m.toString()) as { id?: number }).id;
          if (id === 1) ws.send(JSON.stringify({ id: 2, method: 'HeapProfiler.collectGarbage' }));
          if (id === 2) {
            clearTimeout(timer);
            ws.close();
            resolve();
          }
        });
      }),
    async stop() {
      if (exit === undefined) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        const timer = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** fetch with a time limit: never waits forever on a wedged server. */
export async function get(url: string, init: RequestInit = {}, ms = 10_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

export type { Health };

export async function health(s: Served): Promise<Health> {
  const r = await get(`${s.url}/healthz`);
  return (await r.json()) as Health;
}

/** Every sample of /metrics as `name{labels}` -> value. */
export async function metrics(s: Served): Promise<Map<string, number>> {
  const text = await (await get(`${s.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** The child's resident set from /proc (bytes); falls back to /metrics where /proc is missing. */
export async function rssOf(s: Served): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return (await metrics(s)).get('loflow_process_resident_memory_bytes') ?? NaN;
}

/** Wait until everything the log holds is processed and committed (bounded). */
export async function drained(s: Served, ms = 30_000): Promise<Health> {
  const end = Date.now() + ms;
  for (;;) {
    const h = await health(s);
    if ((h.queue_depth === 0 && h.committed_offset === h.log_end) || Date.now() > end) return h;
    await sleep(50);
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole answer as it came (several answers for pipelined requests). */
  raw: Buffer;
  /** How the connection ended: 'closed' by the server, 'timeout' (we gave up), 'error'. */
  end: 'closed' | 'timeout' | 'error';
}

/** Parse the first HTTP response in `raw` (content-length or chunked). */
export function parseResponse(whole: Buffer, end: RawResponse['end']): RawResponse {
  // Interim answers (100 Continue to `Expect: 100-continue`) come first: the response is what follows.
  let raw = whole;
  for (;;) {
    const m = /^HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n/.exec(raw.toString('latin1', 0, Math.min(raw.length, 4096)));
    if (!m || m[0].startsWith('HTTP/1.1 101') || m[0].startsWith('HTTP/1.0 101')) break;
    raw = raw.subarray(m[0].length);
  }
  const text = raw.toString('latin1');
  const he = text.indexOf('\r\n\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  const headers: Record<string, string> = {};
  if (he < 0 || !m) return { status: 0, headers, body: '', raw, end };
  for (const line of text.slice(0, he).split('\r\n').slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let bodyBytes = raw.subarray(he + 4);
  if (headers['transfer-encoding']?.includes('chunked')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const nl = bodyBytes.indexOf('\r\n', at);
      if (nl < 0) break;
      const n = parseInt(bodyBytes.subarray(at, nl).toString('latin1'), 16);
      if (!Number.isFinite(n) || n === 0) break;
      parts.push(bodyBytes.subarray(nl + 2, nl + 2 + n));
      at = nl + 2 + n + 2;
    }
    bodyBytes = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    bodyBytes = bodyBytes.subarray(0, Number(headers['content-length']));
  }
  const enc = headers['content-encoding'];
  try {
    if (enc === 'gzip') bodyBytes = gunzipSync(bodyBytes);
    else if (enc === 'deflate') bodyBytes = inflateSync(bodyBytes);
    else if (enc === 'br') bodyBytes = brotliDecompressSync(bodyBytes);
  } catch {
    /* left as it came: the caller sees bytes that are not JSON */
  }
  return { status: Number(m[1]), headers, body: bodyBytes.toString('utf8'), raw, end };
}

/**
 * Write `bytes` to a fresh TCP connection and collect what comes back until the server closes, the first
 * complete response arrived (when `untilResponse`), or `ms` passed.
 */
export function rawHttp(port: number, bytes: Buffer | string, ms = 5_000, untilResponse = true): Promise<RawResponse> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: '127.0.0.1', port });
    let done = false;
    const finish = (end: RawResponse['end']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(parseResponse(Buffer.concat(chunks), end));
    };
    const timer = setTimeout(() => finish('timeout'), ms);
    sock.on('error', () => finish('error'));
    sock.on('close', () => finish('closed'));
    sock.on('data', (d) => {
      chunks.push(d);
      if (!untilResponse) return;
      const r = parseResponse(Buffer.concat(chunks), 'closed');
      if (r.status && complete(r)) finish('closed');
    });
    sock.write(bytes);
  });
}

function complete(r: RawResponse): boolean {
  const raw = r.raw.toString('latin1');
  const he = raw.indexOf('\r\n\r\n');
  if (r.headers['transfer-encoding']?.includes('chunked')) return raw.endsWith('0\r\n\r\n');
  if (r.headers['content-length'] !== undefined) return r.raw.length - he - 4 >= Number(r.headers['content-length']);
  return r.status === 101 || r.status === 204 || r.status === 304;
}

// ---------------------------------------------------------------------------------------------------------
// WebSocket frames, by hand (RFC 6455 section 5.2), so the tests can write what no client library would.

export interface Frame {
  fin: boolean;
  /** The three RSV bits as a number 0..7 (anything but 0 is a protocol error without an extension). */
  rsv: number;
  opcode: number;
  /** Mask the payload (clients must; an unmasked client frame is a protocol error). */
  mask: boolean;
  payload: Buffer;
  /** Length encoding: the shortest, or forced 16/64-bit, or a declared length that lies by `lie` bytes. */
  len?: 'auto' | '16' | '64';
  lie?: number;
}

export function encodeFrame(f: Frame): Buffer {
  const declared = Math.max(0, f.payload.length + (f.lie ?? 0));
  const mode = f.len ?? 'auto';
  let head: Buffer;
  const b0 = (f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0x0f);
  const m = f.mask ? 0x80 : 0;
  if (mode === 'auto' && declared < 126) head = Buffer.from([b0, m | declared]);
  else if ((mode === 'auto' && declared < 65536) || (mode === '16' && declared < 65536)) {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = m | 126;
    head.writeUInt16BE(declared, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(declared), 2);
  }
  if (!f.mask) return Buffer.concat([head, f.payload]);
  const key = randomBytes(4);
  const body = Buffer.from(f.payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

export const text = (s: string | Buffer, more: Partial<Frame> = {}): Frame => ({ fin: true, rsv: 0, opcode: 1, mask: true, payload: Buffer.isBuffer(s) ? s : Buffer.from(s), ...more });
export const closeFrame = (code?: number, reason = '', more: Partial<Frame> = {}): Frame => {
  const payload = code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([(code >> 8) & 0xff, code & 0xff]), Buffer.from(reason)]);
  return { fin: true, rsv: 0, opcode: 8, mask: true, payload, ...more };
};

export interface RawWs {
  socket: Socket;
  /** The upgrade answer (status 101 when the handshake went through). */
  status: number;
  /** Everything the server sent after the handshake (frames), as it came. */
  received(): Buffer;
  /** Frames decoded from what was received so far (server frames are unmasked). */
  frames(): Array<{ opcode: number; payload: Buffer }>;
  send(...frames: Array<Frame | Buffer>): void;
  /** Resolves when the server closed the TCP connection, or after `ms` (then false). */
  closed(ms: number): Promise<boolean>;
  /** Resolves with the server's close frame once it came (it waits for ours before closing TCP), or null. */
  closeFrame(ms: number): Promise<{ opcode: number; payload: Buffer } | null>;
  destroy(): void;
}

/** An upgrade request written by hand on `target` (the request target as is: absolute form, odd bytes). */
export function wsHandshake(target: string, extraHeaders: string[] = []): string {
  return [`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', ...extraHeaders, '', ''].join('\r\n');
}

/** Connect and upgrade by hand; resolves with the status line's code (0: no answer within `ms`). */
export function rawWs(port: number, target: string, ms = 5_000, extraHeaders: string[] = []): Promise<RawWs> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let after: Buffer[] = [];
    let status = -1;
    let isClosed = false;
    const closers: Array<() => void> = [];
    sock.on('error', () => {});
    sock.on('close', () => {
      isClosed = true;
      for (const c of closers.splice(0)) c();
      if (status === -1) done(0);
    });
    const timer = setTimeout(() => done(0), ms);
    const ws: RawWs = {
      socket: sock,
      status: 0,
      received: () => Buffer.concat(after),
      frames: () => decodeFrames(Buffer.concat(after)),
      send: (...frames) => {
        if (!sock.destroyed) sock.write(Buffer.concat(frames.map((f) => (Buffer.isBuffer(f) ? f : encodeFrame(f)))));
      },
      closed: (wait) =>
        isClosed
          ? Promise.resolve(true)
          : new Promise((r) => {
              const t = setTimeout(() => r(false), wait);
              closers.push(() => {
                clearTimeout(t);
                r(true);
              });
            }),
      closeFrame: async (wait) => {
        const end = Date.now() + wait;
        for (;;) {
          const f = decodeFrames(Buffer.concat(after)).find((x) => x.opcode === 8);
          if (f || isClosed || Date.now() > end) return f ?? null;
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      destroy: () => sock.destroy(),
    };
    function done(code: number) {
      if (status !== -1) return;
      status = code;
      ws.status = code;
      clearTimeout(timer);
      resolve(ws);
    }
    sock.on('data', (d) => {
      if (status !== -1) {
        after.push(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf.toString('latin1'));
      after = [buf.subarray(he + 4)];
      done(m ? Number(m[1]) : 0);
    });
    sock.write(wsHandshake(target, extraHeaders));
  });
}

export function decodeFrames(b: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const out: Array<{ opcode: number; payload: Buffer }> = [];
  let at = 0;
  while (at + 2 <= b.length) {
    const opcode = b[at] & 0x0f;
    let len = b[at + 1] & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (p + 2 > b.length) break;
      len = b.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > b.length) break;
      len = Number(b.readBigUInt64BE(p));
      p += 8;
    }
    if (b[at + 1] & 0x80) p += 4;
    if (p + len > b.length) break;
    out.push({ opcode, payload: b.subarray(p, p + len) });
    at = p + len;
  }
  return out;
}

/** The close code in a close frame's payload (1005 when it has none). */
export const closeCode = (f: { payload: Buffer }) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005);

/** Check the server is up and answering, with its current RSS; throws a message naming what died. */
export async function assertAlive(s: Served, what: string): Promise<void> {
  await sleep(20); // a crash from the last input needs a tick to show
  if (!s.alive()) throw new Error(`loflow serve died after ${what}: ${s.died()}`);
  let r: Response;
  try {
    r = await get(`${s.url}/healthz`, {}, 15_000);
  } catch (err) {
    throw new Error(`/healthz did not answer after ${what} (${(err as Error).message}); ${s.alive() ? 'process alive' : s.died()}`);
  }
  if (r.status !== 200) throw new Error(`/healthz answered ${r.status} after ${what}: ${await r.text()}`);
}
