// The dashboard page: picks a class the teacher token may read, shows its students by name (roster) with
// live updates over a WebSocket (snapshot, then deltas), and opens a student's drill-down on demand.
// Screen readers hear a short class summary at most every ANNOUNCE_MS, never every delta.
import { el } from './dom.js';
import { count, label, stateOf } from './format.js';
import { ClassTable } from './table.js';
import { DrillDown } from './drill.js';

const ANNOUNCE_MS = 15_000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get('token') || localStorage.getItem('loflow-token') || '';
$('token').value = token;
$('token').addEventListener('change', () => { localStorage.setItem('loflow-token', $('token').value); location.search = `?token=${encodeURIComponent($('token').value)}`; });

let ws, dashboard, group, lastAnnounced = 0, announceTimer;

const table = new ClassTable({ table: $('students'), caption: $('table-caption'), head: $('head'), body: $('rows'), unseen: $('unseen'), unseenHeading: $('unseen-heading') },
  (member) => openStudent(member));
const drill = new DrillDown($('drill'), {
  token,
  onClose: (member, giveFocusBack) => {
    table.open = undefined;
    table.render();
    if (giveFocusBack) document.querySelector(`button.student[data-focus-key="open:${CSS.escape(member)}"]`)?.focus();
  },
});

function openStudent(member) {
  table.open = member;
  table.render();
  drill.open(member, table.name(member));
}

$('filter').addEventListener('input', () => { table.filter.text = $('filter').value; table.render(); });
$('state-filter').addEventListener('change', () => { table.filter.state = $('state-filter').value; table.render(); });

function renderSummary(summary) {
  $('summary').replaceChildren(...Object.entries(summary ?? {}).filter(([, v]) => typeof v !== 'object' || v === null).map(([k, v]) =>
    el('div', { class: 'card' }, el('div', { class: 'v', 'data-summary': k }, typeof v === 'number' ? count(v) : v == null ? '–' : String(v)), el('div', { class: 'k' }, label(k)))));
}

/** A polite, rate-limited sentence about the class: the latest one wins, at most one per ANNOUNCE_MS. */
function announce() {
  const say = () => {
    announceTimer = undefined;
    lastAnnounced = Date.now();
    const n = { writing: 0, 'on-task': 0, idle: 0, unseen: 0 };
    for (const r of table.rows.values()) n[stateOf(r).key]++;
    $('announce').textContent = `${group}: ${n.writing} writing, ${n['on-task']} on task not typing, ${n.idle} idle, ${n.unseen} not yet seen.`;
  };
  if (announceTimer) return;
  announceTimer = setTimeout(say, Math.max(0, lastAnnounced + ANNOUNCE_MS - Date.now()));
}

function apply(msg) {
  // 'error' (the class could not be loaded) and 'closed' (dashboard removed) carry no rows: say so.
  if (msg.type === 'error' || msg.type === 'closed') { $('status').textContent = msg.error || msg.reason || msg.type; return; }
  if (!Array.isArray(msg.rows)) return;
  const changed = table.update(msg.rows, msg.type === 'snapshot');
  renderSummary(msg.summary);
  table.render(changed);
  $('status').textContent = `${msg.type === 'snapshot' ? 'live' : 'updated'} ${new Date().toLocaleTimeString('en')}`;
  announce();
}

async function connect(g) {
  // The old socket must not reconnect to its class when we switch to another.
  if (ws) { ws.onclose = null; ws.close(); }
  group = g;
  drill.setClass(dashboard.name, g);
  table.update([], true);
  const res = await fetch(`/v1/dashboards/${encodeURIComponent(dashboard.name)}/${encodeURIComponent(g)}/students`, { headers: { authorization: `Bearer ${token}` } });
  if (res.ok) table.names = new Map((await res.json()).students.map((s) => [s.member, s.name]));
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  ws = new WebSocket(`${proto}://${location.host}/v1/dashboards/${encodeURIComponent(dashboard.name)}/${encodeURIComponent(g)}/live?token=${encodeURIComponent(token)}`);
  ws.onmessage = (e) => apply(JSON.parse(e.data));
  ws.onclose = () => { $('status').textContent = 'disconnected: retrying…'; setTimeout(() => connect(g), 2000); };
}

async function start() {
  const res = await fetch('/v1/dashboards', { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) { $('status').textContent = (await res.json()).error; return; }
  const info = await res.json();
  dashboard = info.dashboards[0];
  table.setColumns(dashboard.columns);
  $('class').replaceChildren(...dashboard.classes.map((c) => el('option', {}, c)));
  $('class').onchange = () => connect($('class').value);
  if (dashboard.classes.length) connect(dashboard.classes[0]);
  else $('status').textContent = `${info.teacher} teaches no class in this roster`;
}
start();
