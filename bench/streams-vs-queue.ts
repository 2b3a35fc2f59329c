// Scale-out design measurement (docs/scale-out.md): the partitioned input log as 64 Redis Streams, against a
// DBOS-style queue table in Postgres and against NATS JetStream, on throwaway servers (free loopback ports,
// temp folders, stopped by PID). Per system: ingest = N events in requests of 100 (one partition-routed
// append per request, ack awaited), 10 requests in flight; consume = drain all 64 partitions in reads of up
// to 4,096 (pipelined per partition, as a worker owning every partition of a cluster would).
//
//   npx tsx bench/streams-vs-queue.ts [events=200000]        (ONLY=off,everysec,lua,always,wait,postgres,nats: a part)
//
// Besides events/s (wall time: moves a lot on a shared machine) it prints the servers' CPU µs per event
// (/proc user+system of redis-server, of the postmaster and its children, of nats-server) and this client's.
//
// Postgres: DBOS queues are rows of a Postgres table (dbos.workflow_status) claimed with
// SELECT ... FOR UPDATE SKIP LOCKED; a row per event, INSERT + one UPDATE to claim, is an upper bound on
// what DBOS queues with partition keys would do (DBOS writes more per workflow: inputs, outputs, status).
// NATS: a minimal client of the NATS text protocol (no NATS client is installed): one stream with 64
// subjects, publish with ack, 64 filtered pull consumers (ack none; the cursor would live with the states).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { cpuSeconds, freePort, startPostgres, startRedis } from './servers.js';

const N = Number(process.argv[2] ?? 200_000);
const P = 64;
const REQ = 100; // events per ingest request
const INFLIGHT = 10; // requests in flight
const READ = 4096; // events per read

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

// ~300-byte Learning Observer keystroke events of 1,000 students.
const students = Array.from({ length: 1000 }, (_, i) => `s-${String(i).padStart(4, '0')}`);
const partOf = students.map((s) => fnv1a(s) % P);
function event(i: number): { p: number; body: string } {
  const s = i % students.length;
  const body = JSON.stringify({
    event: 'keystroke', source: 'org.mitros.writing_analytics', version: 'alpha', ts: 1_764_000_000_000 + i,
    auth: { user_id: students[s] }, doc_id: `doc-${students[s]}-1`, keystroke: { key: 'a', keyCode: 65, type: 'keydown', position: i % 5000 },
    server: { time: 1_764_000_000 + i / 1000, origin: 'https://docs.google.com' },
  });
  return { p: partOf[s], body };
}
const requests: Array<Array<{ p: number; body: string }>> = [];
for (let i = 0; i < N; i += REQ) requests.push(Array.from({ length: Math.min(REQ, N - i) }, (_, j) => event(i + j)));

/** Run requests with INFLIGHT in flight; events/s until every one is acknowledged. */
async function ingest(send: (req: Array<{ p: number; body: string }>, slot: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: INFLIGHT }, async (_, slot) => {
    while (next < requests.length) await send(requests[next++], slot);
  }));
}

/** CPU seconds (user + system, all threads) of processes: the servers' cost, which a shared machine moves less than wall time. */
function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}
/** The postmaster and its children (backends, WAL writer, checkpointer). */
function postgresPids(postmaster: number): number[] {
  const out = [postmaster];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === postmaster) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Time a phase: events/s, the servers' and this client's CPU µs per event. */
async function phase(pids: () => number[], fn: () => Promise<unknown>): Promise<{ rate: number; server: number; client: number }> {
  const s0 = cpuOf(pids());
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { rate: N / secs, server: ((cpuOf(pids()) - s0) * 1e6) / N, client: (c.user + c.system) / N };
}

function report(system: string, what: string, r: { rate: number; server: number; client: number }, note = ''): void {
  console.log(`| ${system} | ${what} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.server.toFixed(1)} | ${r.client.toFixed(1)} | ${note} |`);
}

// ------------------------------------------------------------------------------------------------ Redis

/** A throwaway redis-server with these settings (bench/servers.ts). */
const startRedisWith = (args: string[]) => startRedis({ args });

const inKey = (p: number) => `lf:{bench:p${p}}:in`;
const prodKey = (p: number) => `lf:{bench:p${p}}:prod`;

// Append with producer dedup, one call per partition of a request: events whose sequence the partition has
// already seen from that producer are skipped (the ingest script of the design).
const INGEST_LUA = `
local hw = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
local n = 0
for i = 3, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > hw then redis.call('XADD', KEYS[1], '0-*', 't', ARGV[2], 'e', ARGV[i + 1]); hw = seq; n = n + 1 end
end
redis.call('HSET', KEYS[2], ARGV[1], hw)
return n`;

async function redisRun(label: string, args: string[], opts: { replica?: boolean; lua?: boolean } = {}): Promise<void> {
  const server = await startRedisWith(args);
  const replica = opts.replica ? await startRedisWith(['--appendonly', 'yes', '--appendfsync', 'everysec', '--replicaof', '127.0.0.1', String(server.port)]) : undefined;
  const clients = Array.from({ length: INFLIGHT }, () => new Redis({ port: server.port, host: '127.0.0.1' }));
  try {
    if (replica) {
      const r = new Redis({ port: replica.port, host: '127.0.0.1' });
      while (!(await r.info('replication')).includes('master_link_status:up')) await new Promise((x) => setTimeout(x, 50));
      r.disconnect();
    }
    await Promise.all(clients.map((c) => c.ping())); // connected before the clock starts
    const sha = opts.lua ? ((await clients[0].script('LOAD', INGEST_LUA)) as string) : '';
    // One producer per slot, each sending its requests in order (the producer contract: a producer's
    // sequences reach a partition in increasing order; with 10 producers sharing one sequence counter, a
    // later request overtaking an earlier one on another connection made the earlier one a "duplicate").
    const seqs = new Array<number>(INFLIGHT).fill(0);
    const pids = () => [server.pid];
    const ing = await phase(pids, () => ingest(async (req, slot) => {
      const client = clients[slot];
      const p = client.pipeline();
      const at = String(Date.now());
      if (opts.lua) {
        const byPart = new Map<number, string[]>();
        const s0 = seqs[slot];
        seqs[slot] += req.length;
        req.forEach((e, i) => {
          const l = byPart.get(e.p) ?? [];
          l.push(String(s0 + i), e.body);
          byPart.set(e.p, l);
        });
        for (const [part, l] of byPart) p.evalsha(sha, 2, inKey(part), prodKey(part), `producer-${slot}`, at, ...l);
      } else for (const e of req) p.xadd(inKey(e.p), '0-*', 't', at, 'e', e.body);
      if (opts.replica) p.call('WAIT', '1', '1000');
      const res = await p.exec();
      const failed = res?.find(([err]) => err);
      if (failed) throw failed[0];
      if (opts.replica && Number(res![res!.length - 1][1]) < 1) throw new Error('WAIT: no replica acknowledged');
    }));
    report('Redis 7.0 Streams', `ingest: ${label}`, ing, (opts.lua ? 'one EVALSHA per partition of a request' : 'one pipelined XADD per event') + (opts.replica ? '; server CPU: primary only' : ''));
    // Consume: every partition from 0-0, pipelined XREADs of up to READ entries, until all N are read.
    const reader = clients[0];
    const cursor = new Array<string>(P).fill('0-0');
    let read = 0;
    const con = await phase(pids, async () => { while (read < N) {
      const p = reader.pipeline();
      for (let i = 0; i < P; i++) p.xread('COUNT', READ, 'STREAMS', inKey(i), cursor[i]);
      const res = await p.exec();
      res!.forEach(([err, v], i) => {
        if (err) throw err;
        const entries = (v as Array<[string, Array<[string, string[]]>]> | null)?.[0]?.[1] ?? [];
        if (entries.length) {
          cursor[i] = entries[entries.length - 1][0];
          for (const [, fields] of entries) JSON.parse(fields[3]);
          read += entries.length;
        }
      });
    } });
    report('Redis 7.0 Streams', `consume: ${label}`, con, 'pipelined XREAD COUNT 4096 of 64 streams, JSON.parse each');
  } finally {
    for (const c of clients) c.disconnect();
    await replica?.stop();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------- Postgres

async function postgresRun(): Promise<void> {
  const server = await startPostgres();
  const pool = new pg.Pool({ connectionString: server.url, max: INFLIGHT });
  try {
    await pool.query(`CREATE TABLE q (id bigserial PRIMARY KEY, part int NOT NULL, status text NOT NULL DEFAULT 'ENQUEUED', at bigint NOT NULL, body text NOT NULL)`);
    await pool.query(`CREATE INDEX q_ready ON q (part, id) WHERE status = 'ENQUEUED'`);
    const pids = () => postgresPids(server.pid);
    const ing = await phase(pids, () => ingest(async (req) => {
      await pool.query('INSERT INTO q (part, at, body) SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[])', [req.map((e) => e.p), req.map(() => Date.now()),  req.map((e) => e.body)]);
    }));
    report('Postgres 15', 'ingest: INSERT of a request per transaction (fsync on, synchronous_commit on)', ing, '10 connections; one multi-row INSERT (unnest) per request');
    let read = 0;
    let nextPart = 0;
    // 4 claimers over the 64 partitions: claim up to READ rows of a partition (ENQUEUED -> PENDING), SKIP LOCKED.
    const con = await phase(pids, () => Promise.all(Array.from({ length: 4 }, async () => {
      while (read < N) {
        const part = nextPart++ % P;
        const r = await pool.query(`UPDATE q SET status = 'PENDING' WHERE id IN (SELECT id FROM q WHERE part = $1 AND status = 'ENQUEUED' ORDER BY id LIMIT ${READ} FOR UPDATE SKIP LOCKED) RETURNING body`, [part]);
        for (const row of r.rows) JSON.parse(row.body);
        read += r.rowCount ?? 0;
      }
    })));
    report('Postgres 15', 'consume: claim rows per partition (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING)', con, '4 connections; DBOS would also write the result row (not counted)');
  } finally {
    await pool.end();
    await server.stop();
  }
}

// -------------------------------------------------------------------------------------- NATS JetStream

class Nats {
  private buf: Buffer = Buffer.alloc(0);
  private handlers = new Map<string, (payload: Buffer, status: string | null) => void>();
  private prefixHandlers: Array<[string, (subject: string, payload: Buffer, status: string | null) => void]> = [];
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d) => this.onData(d));
  }
  static async open(port: number): Promise<Nats> {
    const sock = connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const n = new Nats(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      n.onPong = resolve;
      sock.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\nSUB _INBOX.> 1\r\nPING\r\n');
    });
    return n;
  }
  private onPong: (() => void) | null = null;
  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let pos = 0;
    for (;;) {
      const eol = this.buf.indexOf('\r\n', pos);
      if (eol < 0) break;
      const line = this.buf.toString('latin1', pos, eol);
      if (line.startsWith('MSG ') || line.startsWith('HMSG ')) {
        const parts = line.split(' ');
        const h = parts[0] === 'HMSG';
        const total = Number(parts[parts.length - 1]);
        const hdr = h ? Number(parts[parts.length - 2]) : 0;
        if (this.buf.length < eol + 2 + total + 2) break;
        const body = this.buf.subarray(eol + 2 + hdr, eol + 2 + total);
        const status = h ? this.buf.toString('latin1', eol + 2, eol + 2 + hdr).split('\r\n')[0].slice(9, 12) : null;
        this.dispatch(parts[1], body, status || null);
        pos = eol + 2 + total + 2;
      } else {
        if (line === 'PING') this.sock.write('PONG\r\n');
        else if (line === 'PONG') this.onPong?.();
        else if (line.startsWith('-ERR')) throw new Error(`nats: ${line}`);
        pos = eol + 2;
      }
    }
    this.buf = this.buf.subarray(pos);
  }
  private dispatch(subject: string, body: Buffer, status: string | null): void {
    const h = this.handlers.get(subject);
    if (h) {
      this.handlers.delete(subject);
      return h(body, status);
    }
    for (const [prefix, f] of this.prefixHandlers) if (subject.startsWith(prefix)) return f(subject, body, status);
  }
  onPrefix(prefix: string, f: (subject: string, payload: Buffer, status: string | null) => void): void {
    this.prefixHandlers.push([prefix, f]);
  }
  publish(subject: string, reply: string, payload: string): void {
    this.sock.write(`PUB ${subject} ${reply} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`);
  }
  private n = 0;
  request(subject: string, payload: string): Promise<any> {
    const inbox = `_INBOX.r.${this.n++}`;
    return new Promise((resolve) => {
      this.handlers.set(inbox, (b) => resolve(JSON.parse(b.toString())));
      this.publish(subject, inbox, payload);
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

async function natsRun(): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'loflow-sq-nats-'));
  const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let nc: Nats | undefined;
  try {
    for (let i = 0; ; i++) {
      try {
        nc = await Nats.open(port);
        break;
      } catch {
        if (i > 100) throw new Error('nats-server did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const c = await nc.request('$JS.API.STREAM.CREATE.EV', JSON.stringify({ name: 'EV', subjects: ['ev.*'], storage: 'file', retention: 'limits', num_replicas: 1 }));
    if (c.error) throw new Error(JSON.stringify(c.error));
    // Publish with ack: every event its own PUB with a reply inbox; a request's events are acknowledged when
    // all their PubAcks are in.
    let ackN = 0;
    const waiting = new Map<number, () => void>();
    nc.onPrefix('_INBOX.a.', (subject, body) => {
      const ack = JSON.parse(body.toString());
      if (ack.error) throw new Error(JSON.stringify(ack.error));
      const f = waiting.get(Number(subject.slice(9)));
      waiting.delete(Number(subject.slice(9)));
      f?.();
    });
    const pids = () => [child.pid!];
    const ing = await phase(pids, () => ingest(async (req) => {
      await Promise.all(req.map((e) => new Promise<void>((resolve) => {
        const id = ackN++;
        waiting.set(id, resolve);
        nc!.publish(`ev.${e.p}`, `_INBOX.a.${id}`, e.body);
      })));
    }));
    report('NATS 2.9 JetStream', 'ingest: publish with ack, file storage (1 server, R1)', ing, 'one PUB per event, awaited PubAcks; no fsync per ack (2.9 syncs every 2 min)');
    for (let p = 0; p < P; p++) {
      const r = await nc.request(`$JS.API.CONSUMER.DURABLE.CREATE.EV.c${p}`, JSON.stringify({ stream_name: 'EV', config: { durable_name: `c${p}`, ack_policy: 'none', deliver_policy: 'all', filter_subject: `ev.${p}` } }));
      if (r.error) throw new Error(JSON.stringify(r.error));
    }
    // Pull: each partition's consumer fetches up to READ (no_wait) until all N are read.
    let read = 0;
    const con = await phase(pids, () => new Promise<void>((done) => {
      const got = new Array<number>(P).fill(0);
      const fetch = (p: number) => {
        got[p] = 0;
        nc!.publish(`$JS.API.CONSUMER.MSG.NEXT.EV.c${p}`, `_INBOX.f.${p}`, JSON.stringify({ batch: READ, no_wait: true }));
      };
      // Messages arrive under their own subject (ev.<p>); a fetch's end (fewer than asked) as a status on its inbox.
      nc!.onPrefix('ev.', (subject, body) => {
        const p = Number(subject.slice(3));
        JSON.parse(body.toString());
        read++;
        got[p]++;
        if (read === N) return done();
        if (got[p] === READ) fetch(p);
      });
      nc!.onPrefix('_INBOX.f.', (subject) => {
        const p = Number(subject.slice(9));
        if (read < N) setTimeout(() => fetch(p), 1); // 404/408: nothing more in this partition now
      });
      for (let p = 0; p < P; p++) fetch(p);
    }));
    report('NATS 2.9 JetStream', 'consume: 64 filtered pull consumers, fetch 4096 no_wait', con, 'ack none (the cursor would be committed with the states)');
  } finally {
    nc?.close();
    if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

function has(bin: string): boolean {
  try {
    execFileSync('which', [bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

console.log(`${N.toLocaleString('en-US')} events (~${Math.round(requests[0].reduce((a, e) => a + e.body.length, 0) / requests[0].length)} bytes of JSON), ${P} partitions, requests of ${REQ}, ${INFLIGHT} in flight, reads of ${READ}`);
console.log(`load average before: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
console.log('| system | what | events/s | server CPU µs/event | client CPU µs/event | how |');
console.log('|---|---|---|---|---|---|');
const only = process.env.ONLY; // e.g. ONLY=always,postgres: a part only
const run = (name: string) => !only || only.split(',').includes(name);
if (run('off')) await redisRun('AOF off', ['--appendonly', 'no']);
if (run('everysec')) await redisRun('AOF everysec', ['--appendonly', 'yes', '--appendfsync', 'everysec']);
if (run('lua')) await redisRun('AOF everysec, producer-dedup Lua append', ['--appendonly', 'yes', '--appendfsync', 'everysec'], { lua: true });
if (run('always')) await redisRun('AOF always', ['--appendonly', 'yes', '--appendfsync', 'always']);
if (run('wait')) await redisRun('AOF everysec + 1 replica, WAIT 1 per request', ['--appendonly', 'yes', '--appendfsync', 'everysec'], { replica: true });
if (run('postgres')) await postgresRun();
if (!run('nats')) { /* skipped */ } else if (has('nats-server')) await natsRun();
else console.log('nats-server not installed: NATS JetStream not measured');
console.log(`load average after: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
