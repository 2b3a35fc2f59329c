// A WebSocket client over a raw TCP socket: it writes whatever frames a test builds (unmasked, RSV bits,
// invalid UTF-8, wrong lengths), which no well-behaved client library can, and reads the server's frames.
import { connect, type Socket } from 'node:net';
import { encodeFrame } from '../fuzz/harness.js';

export interface RawFrameOptions {
  fin?: boolean;
  rsv?: number;
  mask?: boolean;
}

/** A client frame (the fuzz harness's encoder): masked and final unless told otherwise. */
export function frame(opcode: number, payload: Buffer | string, o: RawFrameOptions = {}): Buffer {
  return encodeFrame({ fin: o.fin ?? true, rsv: o.rsv ?? 0, opcode, mask: o.mask ?? true, payload: typeof payload === 'string' ? Buffer.from(payload) : payload });
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

export interface RawWs {
  /** The handshake's HTTP status (101 when upgraded) and the response head. */
  status: number;
  head: string;
  socket: Socket;
  write(b: Buffer): void;
  /** Frames the server sent so far. */
  frames: ServerFrame[];
  /** Resolves with the close code the server sent (or 1006 when the socket ended without one). */
  closed: Promise<number>;
  /** Resolves with the next text frame's JSON. */
  nextJson(timeoutMs?: number): Promise<any>;
}

/** Open a TCP connection and send a WebSocket upgrade for `target` (written as is: any request target). */
export function rawWs(port: number, target: string, headers: Record<string, string> = {}): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let upgraded: RawWs | undefined;
    const frames: ServerFrame[] = [];
    const waiters: Array<() => void> = [];
    let closeCode: (code: number) => void;
    const closed = new Promise<number>((r) => (closeCode = r));
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.on('connect', () =>
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`),
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      closeCode(1006);
      if (!upgraded) reject(new Error('closed before a response'));
      for (const w of waiters.splice(0)) w();
    });
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
        upgraded = { status, head: head + '\r\n\r\n' + (status === 101 ? '' : buf.toString('utf8')), socket, write: (b) => socket.write(b), frames, closed, nextJson };
        resolve(upgraded);
        if (status !== 101) return;
      }
      // Server frames are never masked.
      while (buf.length >= 2) {
        let len = buf[1] & 127;
        let off = 2;
        if (len === 126) [len, off] = [buf.readUInt16BE(2), 4];
        else if (len === 127) [len, off] = [Number(buf.readBigUInt64BE(2)), 10];
        if (buf.length < off + len) break;
        const f = { opcode: buf[0] & 15, payload: buf.subarray(off, off + len) };
        buf = buf.subarray(off + len);
        frames.push(f);
        if (f.opcode === 8) closeCode(f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005);
        for (const w of waiters.splice(0)) w();
      }
    });
    let read = 0;
    async function nextJson(timeoutMs = 5000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (read < frames.length) {
          const f = frames[read++];
          if (f.opcode === 1) return JSON.parse(f.payload.toString('utf8'));
        }
        if (Date.now() > deadline || socket.destroyed) throw new Error('no text frame');
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    }
  });
}

/** An HTTP request written as raw bytes (a request target no fetch() would send); resolves with the status. */
export function rawRequest(port: number, text: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1] ?? 0), text: out }));
    socket.setTimeout(5000, () => socket.destroy());
  });
}
