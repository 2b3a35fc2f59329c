// WebSocket ingest speaking Learning Observer's student event protocol (/wsapi/in/): one JSON event per
// frame (a JSON array of events is accepted too); `lock_fields` are merged into every later event of the
// connection; events wait until the connection is authenticated; `terminate` closes it.
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { Engine } from '../runtime.js';
import type { LoEvent } from '../types.js';
import type { Auth } from './auth.js';
import { cutDeep } from '../event-limits.js';
import { isUnavailable } from '../unavailable.js';
import type { Metrics } from './metrics.js';
import type { RateLimiter } from './rate-limit.js';

/** Identity fields a client may send (in lock_fields or events), in the order they are trusted. */
function claimedUser(fields: LoEvent): string | undefined {
  const id = fields.user_id ?? fields.chrome_identity?.email ?? fields.chrome_identity?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export class WsIngestConnection {
  private lock: LoEvent = {};
  private user: { id: string; method: string } | undefined;
  private queue: LoEvent[] = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    private readonly source: string,
    private readonly engine: Engine,
    private readonly auth: Auth,
    private readonly limiter: RateLimiter,
    private readonly metrics: Metrics,
  ) {
    const url = new URL(req.url ?? '/', 'http://x');
    const token = url.searchParams.get('token') ?? undefined;
    if (token && auth.wsMethods.includes('token')) {
      const id = auth.wsTokens[token];
      if (id) this.user = { id, method: 'token' };
      else {
        this.send({ status: 'error', error: 'unknown token' });
        ws.close(4401, 'unknown token');
        return;
      }
    }
    // Messages over the size limit never arrive: the server's maxPayload closes the socket (1009).
    ws.on('message', (data) => this.onMessage(data as Buffer));
    ws.on('close', () => metrics.connections.dec({ kind: 'ingest' }));
    metrics.connections.inc({ kind: 'ingest' });
    if (this.user) this.authenticated();
  }

  private send(msg: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onMessage(data: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.send({ status: 'error', error: `not JSON: ${(err as Error).message}` });
      this.metrics.rejected.inc({ source: this.source, reason: 'malformed' });
      void this.engine.deadLetters.put([{ stream: this.source, event: data.toString('utf8').slice(0, 10_000), reason: 'not JSON', at: Date.now(), stage: 'ingest' }]);
      return;
    }
    const events = Array.isArray(msg) ? msg : [msg];
    for (const e of events) this.onEvent(e);
  }

  private onEvent(e: unknown): void {
    if (!e || typeof e !== 'object' || Array.isArray(e)) {
      this.send({ status: 'error', error: 'an event must be a JSON object' });
      // Cut: a frame can nest deeper than the dead-letter store's JSON.stringify can write (see event-limits.ts).
      void this.engine.deadLetters.put([{ stream: this.source, event: cutDeep(e), reason: 'an event must be a JSON object', at: Date.now(), stage: 'ingest' }]);
      return;
    }
    const ev = e as LoEvent;
    if (ev.event === 'lock_fields') {
      Object.assign(this.lock, ev.fields ?? {});
      if (!this.user) this.tryAuthenticate();
      return;
    }
    if (ev.event === 'terminate') {
      // Close once what was sent before it is ingested.
      const close = () => (this.inFlight || this.pending.length ? setTimeout(close, 5) : this.ws.close(1000, 'terminated'));
      close();
      return;
    }
    // The client's own `auth` is never trusted; lock fields overwrite event fields of the same name.
    const { auth: _ignored, ...rest } = ev;
    const merged: LoEvent = { ...rest, ...this.lock };
    if (!this.user) {
      this.queue.push(merged);
      this.tryAuthenticate(merged);
      return;
    }
    this.forward([merged]);
  }

  private tryAuthenticate(latest?: LoEvent): void {
    const claimed = claimedUser(this.lock) ?? (latest ? claimedUser(latest) : undefined);
    for (const m of this.auth.wsMethods) {
      if (m === 'test' && claimed) this.user = { id: claimed, method: 'test' };
      else if (m === 'guest') this.user = { id: `guest-${Math.random().toString(36).slice(2, 10)}`, method: 'guest' };
      if (this.user) break;
    }
    if (this.user) this.authenticated();
  }

  private authenticated(): void {
    if (this.auth.blocklist.has(this.user!.id)) {
      this.send({ status: 'blocklist', user_id: this.user!.id, action: 'stop' });
      this.ws.close(4403, 'blocklisted');
      return;
    }
    this.send({ status: 'auth', user_id: this.user!.id });
    const queued = this.queue;
    this.queue = [];
    if (queued.length) this.forward(queued);
  }

  /** Events waiting while an ingest of this connection is in flight: sent together as the next batch. */
  private pending: LoEvent[] = [];
  private inFlight = false;

  private forward(events: LoEvent[]): void {
    const server = { time: Date.now() / 1000, origin: this.req.headers.origin ?? null, agent: this.req.headers['user-agent'] ?? null, ip: this.req.socket.remoteAddress ?? null };
    for (const e of events) {
      e.auth = { user_id: this.user!.id, method: this.user!.method };
      e.server = server;
      this.pending.push(e);
    }
    if (!this.inFlight) void this.drain();
  }

  /** One connection's events are ingested in order, in batches of whatever arrived meanwhile. */
  private async drain(): Promise<void> {
    this.inFlight = true;
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      const wait = this.limiter.take(this.user!.id, batch.length);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait * 1000));
      for (;;) {
        try {
          const r = await this.engine.ingest(this.source, batch);
          this.metrics.eventsIn.inc({ source: this.source }, r.accepted);
          for (const x of r.rejected) this.send({ status: 'rejected', reason: x.reason });
          break;
        } catch (err) {
          // Store down: hold the events (the protocol has no per-event ack) and retry until it is back.
          if (!isUnavailable(err)) {
            this.send({ status: 'error', error: (err as Error).message });
            break;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
    this.inFlight = false;
  }
}
