// The class table: one row per student seen (name from the roster, state in words, readable durations),
// sortable by any column (header buttons, aria-sort) and filtered by name and state; students not yet seen
// are listed apart below it instead of as rows of dashes.
import { el, keepFocus } from './dom.js';
import { knownColumns, label, seen, stateOf, count } from './format.js';

export class ClassTable {
  constructor({ table, caption, head, body, unseen, unseenHeading }, onOpen) {
    Object.assign(this, { table, caption, head, body, unseen, unseenHeading, onOpen });
    this.rows = new Map();
    /** member -> events per update, the last 30 (the activity sparkline). */
    this.history = new Map();
    this.names = new Map();
    this.columns = [];
    this.sort = { key: 'name', dir: 'ascending' };
    this.filter = { text: '', state: 'all' };
    this.open = undefined;
  }

  /** The columns shown: the state (from idle and wpm), the known ones the aggregation has, then the rest. */
  setColumns(aggColumns) {
    const known = knownColumns.filter((c) => c.key === 'state' ? aggColumns.includes('idle') : aggColumns.includes(c.key));
    const other = aggColumns.filter((k) => k !== 'idle' && !knownColumns.some((c) => c.key === k)).map((k) => ({ key: k, label: label(k), value: (r) => count(r[k]), numeric: true }));
    this.columns = [...known, ...other];
  }

  /** A snapshot (replaces every row) or a delta (changed rows); returns the members that changed. */
  update(rows, snapshot) {
    if (snapshot) { this.rows.clear(); this.history.clear(); }
    for (const r of rows) {
      const before = this.rows.get(r.member);
      const h = this.history.get(r.member) ?? [];
      h.push(before && typeof r.events === 'number' ? Math.max(0, r.events - (before.events || 0)) : 0);
      if (h.length > 30) h.shift();
      this.history.set(r.member, h);
      this.rows.set(r.member, r);
    }
    return new Set(snapshot ? [] : rows.map((r) => r.member));
  }

  name(member) {
    return this.names.get(member) ?? member;
  }

  sortBy(key) {
    this.sort = { key, dir: this.sort.key === key && this.sort.dir === 'ascending' ? 'descending' : 'ascending' };
    this.render();
  }

  /** Rows seen, filtered and sorted. */
  visible() {
    const text = this.filter.text.trim().toLowerCase();
    const rows = [...this.rows.values()].filter((r) => seen(r))
      .filter((r) => !text || this.name(r.member).toLowerCase().includes(text) || r.member.toLowerCase().includes(text))
      .filter((r) => this.filter.state === 'all' || stateOf(r).key === this.filter.state);
    const col = this.columns.find((c) => c.key === this.sort.key);
    const keyOf = (r) => this.sort.key === 'name' ? this.name(r.member).toLowerCase() : col?.sortValue ? col.sortValue(r) : r[this.sort.key];
    const sign = this.sort.dir === 'ascending' ? 1 : -1;
    return rows.sort((a, b) => {
      const x = keyOf(a), y = keyOf(b);
      // Missing values last whatever the direction; ties by name so the order is stable.
      if (x == null || y == null) return x == null && y == null ? 0 : x == null ? 1 : -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), 'en', { numeric: true });
      return c * sign || this.name(a.member).localeCompare(this.name(b.member), 'en', { numeric: true });
    });
  }

  render(changed = new Set()) {
    keepFocus(this.table, () => {
      this.renderHead();
      const rows = this.visible();
      this.body.replaceChildren(...rows.map((r) => this.renderRow(r, changed.has(r.member))));
      const total = [...this.rows.values()].filter((r) => seen(r)).length;
      this.caption.textContent = rows.length === total ? `Students seen: ${total}` : `Students seen: ${rows.length} of ${total} shown (filtered)`;
    });
    const unseen = [...this.rows.values()].filter((r) => !seen(r)).map((r) => this.name(r.member)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    this.unseenHeading.textContent = `Not yet seen: ${unseen.length}`;
    this.unseen.replaceChildren(...unseen.map((n) => el('li', {}, n)));
  }

  renderHead() {
    const header = (key, text, numeric) => {
      const sorted = this.sort.key === key;
      const hint = sorted ? (this.sort.dir === 'ascending' ? '▲' : '▼') : '';
      return el('th', { scope: 'col', 'aria-sort': sorted ? this.sort.dir : undefined, class: numeric ? 'num' : undefined },
        el('button', { type: 'button', class: 'sort', 'data-focus-key': `sort:${key}`, onclick: () => this.sortBy(key) },
          text, el('span', { 'aria-hidden': 'true', class: 'arrow' }, hint)));
    };
    this.head.replaceChildren(el('tr', {}, header('name', 'Student', false), ...this.columns.map((c) => header(c.key, c.label, c.numeric)), el('th', { scope: 'col' }, 'Activity')));
  }

  renderRow(r, changed) {
    const st = stateOf(r);
    const open = this.open === r.member;
    return el('tr', { 'data-member': r.member, class: changed ? 'changed' : undefined },
      el('th', { scope: 'row' }, el('button', {
        type: 'button', class: 'student', 'data-focus-key': `open:${r.member}`, 'aria-expanded': open ? 'true' : 'false', 'aria-controls': 'drill',
        onclick: () => this.onOpen(r.member),
      }, this.name(r.member))),
      ...this.columns.map((c) => c.key === 'state'
        ? el('td', { 'data-col': 'state' }, el('span', { class: `flag ${st.key}` }, st.label))
        : el('td', { 'data-col': c.key, class: c.numeric ? 'num' : undefined }, c.value(r))),
      el('td', { 'data-col': 'activity' }, spark(this.history.get(r.member) ?? [0])));
  }
}

/** Events per update as a sparkline, labelled with its numbers for screen readers. */
function spark(values) {
  const w = 80, h = 18, max = Math.max(1, ...values);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [k, v] of Object.entries({ class: 'spark', width: w, height: h, role: 'img', 'aria-label': `events per update, latest last: ${values.slice(-5).join(', ')}` })) svg.setAttribute(k, String(v));
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#1a56c4');
  line.setAttribute('stroke-width', '1.5');
  line.setAttribute('points', values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(' '));
  svg.append(line);
  return svg;
}
