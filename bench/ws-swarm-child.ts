// The client side of ws10k, in its own process (`node ws-swarm-child.js`), so generating 100,000 frames/s
// does not share an event loop with the parent's latency probe. Commands arrive as JSON lines on stdin;
// each answer is a JSON line on stdout. Students speak the Learning Observer protocol as lo_event does
// (lock_fields with the user, then one JSON event per frame); teachers watch dashboards and count pushes.
// Sockets are spread over local addresses 127.0.0.2-127.0.0.251, like classes behind their schools' NATs:
// the server's rate limit for a claimed (`test`) identity is per address.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

type Cmd =
  | { cmd: 'open'; base: string; users: string[]; perAddress: number }
  | { cmd: 'watch'; urls: string[] }
  | { cmd: 'send'; rate: number; seconds: number }
  | { cmd: 'stats' }
  | { cmd: 'close' };

const students: WebSocket[] = [];
const users: string[] = [];
const watchers: WebSocket[] = [];
let pushes = 0;
let closedStudents = 0;
let closedWatchers = 0;
const out = (m: unknown) => process.stdout.write(JSON.stringify(m) + '\n');

function student(base: string, user: string, localAddress: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/wsapi/in/`, { localAddress, perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ event: 'lock_fields', fields: { user_id: user, source: 'bench' } })));
    ws.once('message', () => {
      ws.on('close', () => closedStudents++);
      resolve(ws);
    });
  });
}

function watcher(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('message', () => pushes++);
    ws.once('message', () => {
      ws.on('close', () => closedWatchers++);
      resolve(ws);
    });
  });
}

/** Open-loop: by each 10 ms tick, `rate` frames per socket per second are due in all; sockets take turns. */
async function send(rate: number, seconds: number): Promise<{ sent: number; skipped: number; seconds: number; maxLagMs: number; buffered: number }> {
  const t0 = performance.now();
  let sent = 0;
  let frames = 0;
  let skipped = 0;
  let next = 0;
  let maxLagMs = 0;
  const n = students.length;
  for (let tick = 1; ; tick++) {
    const now = performance.now();
    const elapsed = Math.min(now - t0, seconds * 1000);
    const due = Math.floor((rate * n * elapsed) / 1000);
    // Frames due more than a tick ago: the generator is behind (reported, not hidden).
    maxLagMs = Math.max(maxLagMs, ((due - sent) / (rate * n)) * 1000);
    const ts = Date.now();
    for (; sent < due; sent++) {
      const i = next;
      next = (next + 1) % n;
      const ws = students[i];
      if (ws.readyState !== WebSocket.OPEN) {
        skipped++; // closed by the server: not sent, so not counted as sent (the close is reported)
        continue;
      }
      frames++;
      ws.send(`{"event":"keystroke","ts":${ts},"doc_id":"d-${users[i]}","keystroke":{"type":"keydown","key":"a"}}`);
    }
    if (elapsed >= seconds * 1000) break;
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + tick * 10 - performance.now())));
  }
  // Bytes the kernel has not taken yet (the server not reading: backpressure), summed over the sockets.
  const buffered = students.reduce((s, ws) => s + ws.bufferedAmount, 0);
  return { sent: frames, skipped, seconds: (performance.now() - t0) / 1000, maxLagMs: Math.round(maxLagMs), buffered };
}

async function handle(c: Cmd): Promise<unknown> {
  if (c.cmd === 'open') {
    const t0 = performance.now();
    for (let i = 0; i < c.users.length; i += 100) {
      const part = c.users.slice(i, i + 100);
      students.push(...(await Promise.all(part.map((u, j) => student(c.base, u, `127.0.0.${2 + (Math.floor((i + j) / c.perAddress) % 250)}`)))));
      users.push(...part);
    }
    return { opened: students.length, ms: Math.round(performance.now() - t0) };
  }
  if (c.cmd === 'watch') {
    for (let i = 0; i < c.urls.length; i += 100) watchers.push(...(await Promise.all(c.urls.slice(i, i + 100).map(watcher))));
    return { watchers: watchers.length };
  }
  if (c.cmd === 'send') return send(c.rate, c.seconds);
  if (c.cmd === 'stats') return { open: students.filter((w) => w.readyState === WebSocket.OPEN).length, closedStudents, closedWatchers, pushes, rssMiB: process.memoryUsage().rss / 2 ** 20 };
  for (const w of [...students, ...watchers]) w.terminate();
  setTimeout(() => process.exit(0), 100);
  return { closed: true };
}

for await (const line of createInterface({ input: process.stdin })) {
  try {
    out({ ok: true, ...((await handle(JSON.parse(line) as Cmd)) as object) });
  } catch (err) {
    out({ ok: false, error: (err as Error).message });
  }
}
