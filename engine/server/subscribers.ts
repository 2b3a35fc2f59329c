// Dashboard subscribers over SSE and WebSocket. Each reports itself busy while its unsent bytes are over a
// bound, so the hub skips it instead of queueing deltas for a client that does not read (see dashboard-hub).
import type { PassThrough } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Subscriber } from './dashboard-hub.js';

const isType = (m: unknown, type: string) => (m as { type?: string } | undefined)?.type === type;

export function wsSubscriber(ws: WebSocket, maxBuffered: number): Subscriber {
  return {
    send(m, json) {
      if (ws.readyState !== 1) return;
      ws.send(json);
      // A class that cannot be loaded: close as a server error (the page reconnects).
      if (isType(m, 'error')) ws.close(1011, 'class not loaded');
    },
    busy: () => ws.bufferedAmount > maxBuffered,
    close(reason) {
      // 1008: policy. terminate() after a grace: a client that does not read may not read the close either.
      ws.close(1008, reason.slice(0, 120));
      setTimeout(() => ws.terminate(), 2000).unref();
    },
  };
}

/** `drop` ends the HTTP connection itself: a client that does not read would never see the stream end. */
export function sseSubscriber(stream: PassThrough, maxBuffered: number, drop: () => void): Subscriber {
  return {
    send(m, json) {
      if (stream.writableEnded) return;
      stream.write(`data: ${json}\n\n`);
      // A class that cannot be loaded ends the stream after its 'error' (EventSource reconnects).
      if (isType(m, 'error')) stream.end();
    },
    // The response pipe stops pulling from the stream when the socket is full: what waits is in the stream.
    busy: () => stream.writableLength + stream.readableLength > maxBuffered,
    close() {
      stream.end();
      drop();
    },
  };
}
