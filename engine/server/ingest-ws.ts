// WebSocket ingest speaking Learning Observer's student event protocol (/wsapi/in/): one JSON event per
// frame (a JSON array of events is accepted too); `lock_fields` are merged into every later event of the
// connection; events wait until the connection is authenticated; `terminate` closes it.
// Everything a connection holds is bounded: events before identity (count and bytes: past the bound the
// socket closes 1008 and what it held is dead-lettered), lock fields, and events waiting for the engine
// (past the bound the socket stops being read until they are in). Nothing is dropped silently: events held
// when a socket closes before identity are dead letters with the reason and the connection's metadata.
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { DeadLetter, LoEvent } from '../types.js';
import { cutDeep } from '../event-limits.js';
import { isUnavailable } from '../unavailable.js';
import { identify, type Identity, type IdentityMethod } from './identity.js';
import type { WebSocketDeps } from './websocket.js';


const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export class WsIngestConnection {
  private lock: LoEvent = {};
  private lockBytes = 0;
  private user: Identity | undefined;
  /** Events before identity, and their bytes (the frames' sizes). */
  private queue: LoEvent[] = [];
  private queueBytes = 0;
  /** Events waiting while an ingest of this connection is in flight: sent together as the next batch. */
  private pending: LoEvent[] = [];
  /** Each pending event's number on this connection (its data events counted from 0): `rejected` names it. */
  private pendingSeq: number[] = [];
  private queueSeq: number[] = [];
  private seen = 0;
  private inFlight = false;
  private closed = false;
  /** Refused (blocklisted, not authenticated, over a bound): frames still in flight are not taken. */
  private refused = false;
  /** Why it was refused, and the events that arrived after (still on the way): kept up to a bound, all counted. */
  private refusal = '';
  private lateKept = 0;
  private readonly methods: IdentityMethod[];
  private readonly meta: { origin: string | null; agent: string | null; ip: string | null };

  constructor(
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    query: URLSearchParams,
    private readonly source: string,
    private readonly deps: WebSocketDeps,
  ) {
    const { auth, metrics } = deps;
    this.methods = auth.identityOf(source);
    this.meta = { origin: str(req.headers.origin), agent: str(req.headers['user-agent']), ip: req.socket.remoteAddress ?? null };
    metrics.connections.inc({ kind: 'ingest' });
    ws.on('close', () => this.onClose());
    const token = query.get('token') ?? undefined;
    if (token && this.methods.includes('token')) {
      const id = auth.wsTokens.get(token);
      if (!id) {
        this.send({ status: 'error', error: 'unknown token' });
        this.policyClose(4401, 'unknown token', 'unknown_token');
        return;
      }
      this.user = { id, method: 'token', authenticated: true };
    }
    // Messages over the size limit never arrive: the server's maxPayload closes the socket (1009).
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    if (this.user) this.authenticated();
  }

  private send(msg: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private policyClose(code: number, reason: string, metric: string): void {
    this.deps.metrics.wsClosed.inc({ kind: 'ingest', code: metric });
    this.ws.close(code, reason);
  }

  private deadLetter(letters: DeadLetter[]): void {
    // A dead-letter store that fails (disk full) is logged; it must not become an unhandled rejection.
    this.deps.engine.deadLetters.put(letters).catch((err: Error) => this.deps.log.error({ err: err.message, count: letters.length }, 'dead letters could not be written'));
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (this.refused) return this.afterRefusal(data, isBinary);
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.send({ status: 'error', error: `not JSON: ${(err as Error).message}` });
      this.deps.metrics.rejected.inc({ source: this.source, reason: 'malformed' });
      const raw = isBinary ? data.subarray(0, 10_000).toString('base64') : data.toString('utf8').slice(0, 10_000);
      this.deadLetter([{ stream: this.source, event: raw, reason: isBinary ? 'not JSON (binary frame, base64)' : 'not JSON', at: Date.now(), stage: 'ingest' }]);
      return;
    }
    const events = Array.isArray(msg) ? msg : [msg];
    // Each event of a frame is charged an equal share of its bytes toward the pre-identity bound.
    const share = Math.ceil(data.length / Math.max(1, events.length));
    let i = 0;
    for (; i < events.length && !this.refused; i++) this.onEvent(events[i], share);
    // The rest of a frame whose event got the socket refused: never dropped silently.
    if (i < events.length) this.keepLate(events.slice(i));
  }

  /** A frame that arrived after the socket was refused (it was on the way): counted, kept up to a bound. */
  private afterRefusal(data: Buffer, isBinary: boolean): void {
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      msg = isBinary ? data.subarray(0, 10_000).toString('base64') : data.toString('utf8').slice(0, 10_000);
    }
    this.keepLate(Array.isArray(msg) ? msg : [msg]);
  }

  private keepLate(events: unknown[]): void {
    const data = events.filter((e) => !(isPlainObject(e) && (e.event === 'lock_fields' || e.event === 'terminate')));
    if (!data.length) return;
    this.deps.metrics.rejected.inc({ source: this.source, reason: 'after_refusal' }, data.length);
    // Bounded like the backlog: a client that keeps sending to a closing socket cannot fill the disk.
    const room = Math.max(0, this.deps.limits.maxEventsBeforeIdentity - this.lateKept);
    const kept = data.slice(0, room);
    this.lateKept += kept.length;
    if (data.length > kept.length) this.deps.log.warn({ source: this.source, count: data.length - kept.length }, 'events after a refusal over the bound: counted, not kept');
    const at = Date.now();
    const reason = `sent after the connection was refused (${this.refusal})`;
    this.deadLetter(kept.map((e) => ({ stream: this.source, event: isPlainObject(e) ? { ...cutDeep(e) as object, ...this.lock, connection: this.meta } : cutDeep(e), reason, at, stage: 'ingest' })));
  }

  private onEvent(e: unknown, bytes: number): void {
    if (!isPlainObject(e)) {
      this.send({ status: 'error', index: this.seen++, error: 'an event must be a JSON object' });
      this.deps.metrics.rejected.inc({ source: this.source, reason: 'invalid' });
      // Cut: a frame can nest deeper than the dead-letter store's JSON.stringify can write (see event-limits.ts).
      this.deadLetter([{ stream: this.source, event: cutDeep(e), reason: 'an event must be a JSON object', at: Date.now(), stage: 'ingest' }]);
      return;
    }
    const ev = e as LoEvent;
    if (ev.event === 'lock_fields') return this.onLockFields(ev.fields, bytes);
    if (ev.event === 'terminate') {
      // Close once what was sent before it is ingested.
      const close = () => (this.inFlight || this.pending.length ? setTimeout(close, 5) : this.ws.close(1000, 'terminated'));
      close();
      return;
    }
    const seq = this.seen++;
    // The client's own `auth` is never trusted; lock fields overwrite event fields of the same name.
    const { auth: _ignored, ...rest } = ev;
    const merged: LoEvent = { ...rest, ...this.lock };
    if (!this.user) {
      const limits = this.deps.limits;
      if (this.queue.length >= limits.maxEventsBeforeIdentity || this.queueBytes + bytes > limits.maxBytesBeforeIdentity) {
        this.queue.push(merged);
        this.queueSeq.push(seq);
        this.send({ status: 'error', error: `no identity after ${this.queue.length} events: send lock_fields with the user first` });
        this.policyClose(1008, 'no identity: too many events held', 'backlog_before_identity');
        this.refuse(`no identity: over ${limits.maxEventsBeforeIdentity} events or ${limits.maxBytesBeforeIdentity} bytes held before identity; the connection was closed`);
        return;
      }
      this.queue.push(merged);
      this.queueSeq.push(seq);
      this.queueBytes += bytes;
      this.tryAuthenticate(merged);
      return;
    }
    this.forward([merged], [seq]);
  }

  private onLockFields(fields: unknown, bytes: number): void {
    if (fields === undefined) return;
    if (!isPlainObject(fields)) {
      this.send({ status: 'error', error: 'lock_fields.fields must be a JSON object' });
      this.deps.metrics.rejected.inc({ source: this.source, reason: 'invalid' });
      return;
    }
    this.lockBytes += bytes;
    if (this.lockBytes > this.deps.limits.maxLockFieldsBytes) {
      this.send({ status: 'error', error: `lock_fields over ${this.deps.limits.maxLockFieldsBytes} bytes in all` });
      this.policyClose(1008, 'lock_fields too large', 'lock_fields_too_large');
      this.refuse('lock_fields over their limit; the connection was closed before identity');
      return;
    }
    // Own keys only, and never `__proto__` (it would set the object's prototype, not a field).
    for (const k of Object.keys(fields)) if (k !== '__proto__') this.lock[k] = fields[k];
    if (!this.user) this.tryAuthenticate();
  }

  private tryAuthenticate(latest?: LoEvent): void {
    // Lock fields first; an event's own fields only where the lock has none.
    this.user = identify(this.methods, latest ? { ...latest, ...this.lock } : this.lock, this.deps.auth.deviceTags);
    if (this.user) this.authenticated();
  }

  private authenticated(): void {
    // The roster's aliases name the member (gc-<id>, an email, ls-<tag> -> s-0001): one student, one key.
    const member = this.deps.engine.pipeline.identities?.resolve(this.user!.id);
    if (member !== undefined && member !== this.user!.id) this.user = { ...this.user!, id: member, identity: this.user!.id };
    if (!this.user!.authenticated && this.deps.auth.requiresAuthenticated(this.source)) {
      this.send({ status: 'error', error: `not authenticated: ${this.user!.method} identity '${this.user!.id}' is not verified (device tag not on the list)` });
      this.policyClose(4401, 'not authenticated', 'not_authenticated');
      this.refuse(`not authenticated: ${this.user!.method} identity '${this.user!.id}' is not verified`);
      return;
    }
    if (this.deps.auth.blocklist.has(this.user!.id) || (this.user!.identity !== undefined && this.deps.auth.blocklist.has(this.user!.identity))) {
      this.send({ status: 'blocklist', user_id: this.user!.id, action: 'stop' });
      this.policyClose(4403, 'blocklisted', 'blocklisted');
      this.refuse(`user '${this.user!.id}' is blocklisted`);
      return;
    }
    this.send({ status: 'auth', user_id: this.user!.id });
    const [queued, seqs] = [this.queue, this.queueSeq];
    this.queue = [];
    this.queueSeq = [];
    this.queueBytes = 0;
    if (queued.length) this.forward(queued, seqs);
  }

  private refuse(reason: string): void {
    this.refused = true;
    this.refusal = reason;
    this.dropQueue(reason);
  }

  /** Events held before identity that will never be ingested: dead letters with the reason, counted. */
  private dropQueue(reason: string): void {
    const queued = this.queue;
    this.queue = [];
    this.queueSeq = [];
    this.queueBytes = 0;
    if (!queued.length) return;
    const at = Date.now();
    this.deps.metrics.rejected.inc({ source: this.source, reason: 'no_identity' }, queued.length);
    this.deadLetter(queued.map((event) => ({ stream: this.source, event: { ...event, connection: this.meta }, reason, at, stage: 'ingest' })));
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.deps.metrics.connections.dec({ kind: 'ingest' });
    this.dropQueue('no identity before the connection closed');
  }

  private forward(events: LoEvent[], seqs: number[]): void {
    const server = { time: Date.now() / 1000, ...this.meta };
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const u = this.user!;
      e.auth = { user_id: u.id, method: u.method, authenticated: u.authenticated, ...(u.identity !== undefined ? { identity: u.identity } : {}) };
      e.server = server;
      this.pending.push(e);
      this.pendingSeq.push(seqs[i]);
    }
    // Backpressure: stop reading the socket while too much waits for the engine (a slow or down store), or
    // while its ingest is queued for room in the backlog: with 10,000 sockets a per-socket bound alone
    // let 10,000 × maxPendingEvents wait in memory.
    if (!this.ws.isPaused && (this.pending.length >= this.deps.limits.maxPendingEvents || (this.inFlight && this.deps.engine.ingestWaiting > 0))) this.ws.pause();
    if (!this.inFlight) void this.drain();
  }

  /** One connection's events are ingested in order, in batches of whatever arrived meanwhile. */
  private async drain(): Promise<void> {
    this.inFlight = true;
    const { engine, limiter, metrics, limits } = this.deps;
    // Rate limits count per verified identity; a client-claimed id (test, guest) counts against its address.
    const rateKey = this.user!.authenticated ? `user:${this.user!.id}` : `ip:${this.meta.ip}`;
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, limits.maxBatchEvents);
        const seqs = this.pendingSeq.splice(0, limits.maxBatchEvents);
        const wait = limiter.take(rateKey, batch.length);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait * 1000));
        for (;;) {
          try {
            const r = await engine.ingest(this.source, batch);
            metrics.eventsIn.inc({ source: this.source }, r.accepted);
            if (r.rejected.length) metrics.rejected.inc({ source: this.source, reason: 'invalid' }, r.rejected.length);
            for (const x of r.rejected) this.send({ status: 'rejected', index: seqs[x.index], reason: x.reason });
            break;
          } catch (err) {
            // Store down: hold the events (the protocol has no per-event ack) and retry until it is back.
            if (!isUnavailable(err)) {
              // Not retried: they are dead letters, so nothing is lost without a trace.
              this.send({ status: 'error', error: (err as Error).message });
              this.deadLetter(batch.map((event) => ({ stream: this.source, event, reason: `ingest failed: ${(err as Error).message}`, at: Date.now(), stage: 'ingest' })));
              break;
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        if (this.ws.isPaused && this.pending.length < limits.maxPendingEvents / 2) this.ws.resume();
      }
    } finally {
      this.inFlight = false;
      if (this.ws.isPaused) this.ws.resume();
    }
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v.slice(0, 500) : null;
}
