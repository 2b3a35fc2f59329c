// The crash tests' at-least-once client: one producer ('crash-client') posting numbered batches until the
// server acknowledges each, and the wait until the server has committed everything it logged.
import { expect } from 'vitest';

/** POST one batch (its first event's number is its producer seq); null when the request failed. */
export function postBatch(url: string, body: string, seq: number): Promise<Response | null> {
  return fetch(`${url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-loflow-producer': 'crash-client', 'x-loflow-seq': String(seq) } }).catch(() => null);
}

/** Send until acknowledged (an earlier send may have been lost, or logged but not acknowledged); true if the server said it was a re-send. */
export async function sendUntilAcked(url: string, body: string, seq: number): Promise<boolean> {
  for (;;) {
    const r = await postBatch(url, body, seq);
    if (r && r.status === 200) {
      const j = (await r.json()) as { accepted: number; duplicates: number };
      return j.duplicates > 0;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Until every one of `total` logged events is processed and committed; a duplicate would push the log past `total`. */
export async function waitCommitted(url: string, total: number): Promise<void> {
  for (;;) {
    const h = (await (await fetch(`${url}/healthz`)).json()) as { committed_offset: number; log_end: number };
    if (h.log_end === total && h.committed_offset === total) return;
    expect(h.log_end).toBeLessThanOrEqual(total);
    await new Promise((r) => setTimeout(r, 50));
  }
}
