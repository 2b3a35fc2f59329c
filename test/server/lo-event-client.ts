// A WebSocket client that behaves on the wire as Learning Observer's lo_event (modules/lo_event:
// lo_event.js, websocketLogger.js, memoryQueue.js, util.js), written for these tests:
// - lock fields: each setFieldSet sends {event: 'lock_fields', fields, metadata} through the logger's queue,
//   and the logger deep-merges it into its `metadata`, the one lock_fields event it re-sends on reconnects;
// - events: {...event, event: type, metadata: {iso_ts, ts, human_ts, sessionIndex, sessionTag, browserTag}}
//   (init's verboseEvents: true; without it only iso_ts);
// - one queue, first in first out; on every socket open the merged lock_fields is appended to the END of
//   the queue, so a reconnect sends its backlog first and its identity last;
// - a dropped socket is reopened and the queue carries on where it stopped (what was sent is not re-sent).
// The test decides when the socket drops (`flush(count)`), which the real client leaves to the network.
import { WebSocket } from 'ws';

type Json = Record<string, any>;

/** util.mergeDictionary: objects merge key by key, everything else is replaced. */
function mergeDictionary(target: Json, source: Json): void {
  for (const key of Object.keys(source)) {
    if (Object.hasOwn(target, key) && typeof target[key] === 'object' && target[key] !== null && typeof source[key] === 'object' && source[key] !== null) mergeDictionary(target[key], source[key]);
    else target[key] = source[key];
  }
}

export class LoEventClient {
  private readonly queue: string[] = [];
  private readonly metadata: Json = {};
  private index = 0;
  readonly sessionTag = `sess-${Math.random().toString(36).slice(2, 10)}`;
  readonly browserTag = `brow-${Math.random().toString(36).slice(2, 10)}`;
  private ws: WebSocket | undefined;
  /** Every frame written to a socket, with its connection number. */
  readonly sent: Array<{ conn: number; frame: Json }> = [];
  readonly received: Json[] = [];
  connections = 0;

  constructor(private readonly url: string) {}

  private timestamp(e: Json): void {
    e.metadata ??= {};
    e.metadata.iso_ts = new Date().toISOString();
    Object.assign(e.metadata, { ts: Date.now(), human_ts: Date(), sessionIndex: this.index++, sessionTag: this.sessionTag, browserTag: this.browserTag });
  }

  /** lo_event.setFieldSet -> websocketLogger.setField. */
  setFieldSet(fields: Json): void {
    const payload: Json = { fields, event: 'lock_fields' };
    this.timestamp(payload);
    const data = JSON.stringify(payload);
    mergeDictionary(this.metadata, JSON.parse(data));
    this.queue.push(data);
  }

  /** lo_event.logEvent: the event goes to the logger's queue. */
  logEvent(type: string, event: Json): Json {
    event.event = type;
    this.timestamp(event);
    this.queue.push(JSON.stringify(event));
    return event;
  }

  /** Open a socket (prepareSocket: the merged lock_fields goes to the end of the queue). */
  async open(): Promise<void> {
    const ws = new WebSocket(this.url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('message', (d) => this.received.push(JSON.parse(String(d))));
    this.ws = ws;
    this.connections++;
    if (Object.keys(this.metadata).length > 0) this.queue.push(JSON.stringify(this.metadata));
  }

  /** The dequeue loop: send from the front of the queue; with `count`, only that many, then the socket drops (unless `drop` is false). */
  async flush(count = Infinity, drop = true): Promise<void> {
    const ws = this.ws!;
    for (let n = 0; this.queue.length && n < count; n++) {
      const item = this.queue.shift()!;
      ws.send(item);
      this.sent.push({ conn: this.connections, frame: JSON.parse(item) });
    }
    // Written out before the drop: the frames are on the wire, as a network failure after a send finds them.
    while (ws.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 5));
    if (count !== Infinity && drop) await this.drop();
  }

  /** The network drops the socket: no close handshake. */
  async drop(): Promise<void> {
    const ws = this.ws!;
    const closed = new Promise((r) => ws.once('close', r));
    ws.terminate();
    await closed;
    this.ws = undefined;
  }

  async close(): Promise<void> {
    const ws = this.ws;
    if (!ws) return;
    const closed = new Promise((r) => ws.once('close', r));
    ws.close(1000);
    await closed;
  }

  pending(): number {
    return this.queue.length;
  }
}
