// An open-loop HTTP load generator for POST /v1/events: batches of typing events for many students at a
// given rate (or flat out), with a cap on requests in flight. When the server cannot keep up, the cap is hit
// and less is offered; callers report what was actually sent.
import { Agent, request } from 'node:http';

export class HttpLoad {
  static readonly batch = 100;
  private next = 0;
  private key = 0;
  private readonly agent: Agent;
  /** Answers other than 200 (429 rate limit, 503 unavailable...), for the report. */
  failed = 0;
  /** Events the server acknowledged (200). */
  accepted = 0;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly users: string[],
    private readonly keys: string[],
    private readonly maxInFlight = 64,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: maxInFlight });
  }

  private body(): string {
    const parts: string[] = [];
    // Real time, not a counter: at tens of thousands of events/s a counter runs minutes ahead of the clock
    // and ingest refuses its events (max_clock_skew).
    const ts = Date.now();
    for (let i = 0; i < HttpLoad.batch; i++) {
      const u = this.users[this.next];
      this.next = (this.next + 1) % this.users.length;
      parts.push(`{"event":"keystroke","ts":${ts},"auth":{"user_id":"${u}"},"doc_id":"d-${u}","keystroke":{"type":"keydown","key":"a"}}`);
    }
    return `[${parts.join(',')}]`;
  }

  private post(): Promise<void> {
    const body = this.body();
    const key = this.keys[this.key++ % this.keys.length];
    return new Promise((resolve) => {
      const req = request(this.url, { method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
        if (res.statusCode !== 200) this.failed++;
        else this.accepted += HttpLoad.batch;
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', () => {
        this.failed++;
        resolve();
      });
      req.end(body);
    });
  }

  /** Offer `rate` events/s (Infinity: flat out) for `seconds`; resolves with the events sent, once answered. */
  run(rate: number, seconds: number): Promise<number> {
    const t0 = performance.now();
    this.stopped = false;
    let sent = 0;
    let inFlight = 0;
    return new Promise((resolve) => {
      let done = false;
      const pump = () => {
        const elapsed = performance.now() - t0;
        if (elapsed >= seconds * 1000 || this.stopped) {
          if (!done) {
            done = true;
            clearInterval(timer);
          }
          if (inFlight === 0) resolve(sent);
          return;
        }
        while (inFlight < this.maxInFlight && (rate === Infinity || sent + HttpLoad.batch <= (rate * elapsed) / 1000)) {
          inFlight++;
          sent += HttpLoad.batch;
          void this.post().then(() => {
            inFlight--;
            pump();
          });
        }
      };
      const timer = setInterval(pump, 5);
      pump();
    });
  }

  /** End the current run now (it still resolves once the requests in flight are answered or fail). */
  stop(): void {
    this.stopped = true;
  }

  close(): void {
    this.agent.destroy();
  }
}
