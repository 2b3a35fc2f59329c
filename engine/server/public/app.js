// The dashboard page: picks a class the teacher token may read, subscribes to its live updates over a
// WebSocket (snapshot, then deltas) and keeps a per-student sparkline of events per update.
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get('token') || localStorage.getItem('loflow-token') || '';
$('token').value = token;
$('token').addEventListener('change', () => { localStorage.setItem('loflow-token', $('token').value); location.search = `?token=${encodeURIComponent($('token').value)}`; });

let ws, dashboard, columns = [];
const rows = new Map();       // member -> row
const history = new Map();    // member -> recent events-per-update values

function fmt(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString() : v.toFixed(1);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return v == null ? '–' : String(v);
}

function spark(values) {
  const w = 80, h = 18, max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(' ');
  return `<svg class="spark" width="${w}" height="${h}"><polyline fill="none" stroke="#2f6fdb" stroke-width="1.5" points="${pts}"/></svg>`;
}

function renderSummary(summary) {
  $('summary').innerHTML = Object.entries(summary).map(([k, v]) => `<div class="card"><div class="v" data-summary="${k}">${fmt(v)}</div><div class="k">${k.replace(/_/g, ' ')}</div></div>`).join('');
}

function renderRows(changed = new Set()) {
  $('head').innerHTML = `<tr><th>student</th><th>state</th>${columns.filter((c) => c !== 'idle').map((c) => `<th>${c.replace(/_/g, ' ')}</th>`).join('')}<th>activity</th></tr>`;
  $('rows').innerHTML = [...rows.values()].map((r) => {
    const flag = r.idle === undefined ? '' : r.idle ? '<span class="flag idle">idle</span>' : '<span class="flag active">active</span>';
    return `<tr data-member="${r.member}" class="${changed.has(r.member) ? 'changed' : ''}"><td>${r.member}</td><td>${flag}</td>${columns.filter((c) => c !== 'idle').map((c) => `<td data-col="${c}">${fmt(r[c])}</td>`).join('')}<td>${spark(history.get(r.member) || [0])}</td></tr>`;
  }).join('');
}

function apply(msg) {
  // 'error' (the class could not be loaded) and 'closed' (dashboard removed) carry no rows: say so.
  if (msg.type === 'error' || msg.type === 'closed') { $('status').textContent = msg.error || msg.reason || msg.type; return; }
  if (!Array.isArray(msg.rows)) return;
  const changed = new Set();
  for (const r of msg.rows) {
    const before = rows.get(r.member);
    const delta = before && typeof r.events === 'number' ? r.events - (before.events || 0) : 0;
    const h = history.get(r.member) || [];
    h.push(Math.max(0, delta)); if (h.length > 30) h.shift();
    history.set(r.member, h);
    rows.set(r.member, r);
    changed.add(r.member);
  }
  renderSummary(msg.summary);
  renderRows(changed);
  $('status').textContent = `${msg.type === 'snapshot' ? 'live' : 'updated'} ${new Date().toLocaleTimeString()} · every ${msg.interval_ms ?? '?'} ms`;
}

function connect(group) {
  // The old socket must not reconnect to its class when we switch to another.
  if (ws) { ws.onclose = null; ws.close(); }
  rows.clear(); history.clear();
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  ws = new WebSocket(`${proto}://${location.host}/v1/dashboards/${dashboard.name}/${encodeURIComponent(group)}/live?token=${encodeURIComponent(token)}`);
  ws.onmessage = (e) => apply(JSON.parse(e.data));
  ws.onclose = () => { $('status').textContent = 'disconnected: retrying…'; setTimeout(() => connect(group), 2000); };
}

async function start() {
  const res = await fetch('/v1/dashboards', { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) { $('status').textContent = (await res.json()).error; return; }
  const info = await res.json();
  dashboard = info.dashboards[0];
  columns = dashboard.columns;
  $('class').innerHTML = dashboard.classes.map((c) => `<option>${c}</option>`).join('');
  $('class').onchange = () => connect($('class').value);
  if (dashboard.classes.length) connect(dashboard.classes[0]);
  else $('status').textContent = `${info.teacher} teaches no class in this roster`;
}
start();
