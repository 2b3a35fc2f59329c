// WebSocket clients for the load workloads: students speaking the Learning Observer protocol, and teachers
// watching a live dashboard.
import WebSocket from 'ws';

/**
 * Open a student socket; resolves once the server has authenticated it (the `test` method: lock_fields).
 * `apiKey`: for a server with ingest keys (LOFLOW_API_KEYS), which WebSocket sources require on the upgrade.
 */
export function studentSocket(base: string, user: string, apiKey?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/wsapi/in/${apiKey ? `?api_key=${encodeURIComponent(apiKey)}` : ''}`);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ event: 'lock_fields', fields: { user_id: user, source: 'bench' } })));
    ws.once('message', () => resolve(ws));
  });
}

/** Open student sockets 50 at a time (a burst of thousands of handshakes only measures the accept queue). */
export async function studentSockets(base: string, users: string[], apiKey?: string): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < users.length; i += 50) out.push(...(await Promise.all(users.slice(i, i + 50).map((u) => studentSocket(base, u, apiKey)))));
  return out;
}

export interface DashboardRow {
  member: string;
  [column: string]: unknown;
}

/** A dashboard subscription; `onDelta` sees every delta's rows and the push interval it came with. Resolves after the snapshot arrived. */
export function watch(url: string, onDelta: (rows: DashboardRow[], intervalMs: number) => void): Promise<{ ws: WebSocket; snapshot: DashboardRow[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('error', reject);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; rows: DashboardRow[]; interval_ms: number };
      if (m.type === 'snapshot') resolve({ ws, snapshot: m.rows });
      else if (m.type === 'delta') onDelta(m.rows, m.interval_ms);
    });
  });
}
