// Event -> dashboard latency, as a teacher sees it: one subscriber on class-a's live WebSocket, one event
// posted at a time, the time until the delta showing it arrives. Shared by dashboard-latency and scale-ingest.
import hdr from 'hdr-histogram-js';
import WebSocket from 'ws';

/** Event -> delta latencies: POST one event to `ingestUrl`, time until `dashUrl`'s WebSocket shows it. */
export async function latencies(ingestUrl: string, dashUrl: string, n: number): Promise<hdr.Histogram> {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000, numberOfSignificantValueDigits: 3 });
  const ws = new WebSocket(`${dashUrl.replace('http', 'ws')}/v1/dashboards/overview/class-a/live?token=t`);
  const waiting = new Map<number, () => void>();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type !== 'delta') return;
    for (const r of m.rows) waiting.get(r.events)?.();
  });
  await new Promise((r) => ws.once('message', r));
  for (let i = 1; i <= n; i++) {
    const t0 = performance.now();
    const seen = new Promise<void>((r) => waiting.set(i, r));
    await fetch(`${ingestUrl}/v1/events`, { method: 'POST', body: JSON.stringify([{ event: 'keystroke', ts: i * 100, auth: { user_id: 's-0000' }, keystroke: { type: 'keydown', key: 'a' } }]) });
    await seen;
    hist.recordValue(Math.max(1, Math.round(performance.now() - t0)));
    waiting.delete(i);
  }
  ws.close();
  return hist;
}
