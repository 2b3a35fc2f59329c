// The student drill-down: a panel with one student's numbers, each document's current text and their recent
// activity, kept live over Server-Sent Events (the server checks the teacher teaches the class).
// Keyboard: the panel's heading takes focus when it opens; Escape or "Close" closes it and gives focus back
// to the student's button in the table.
import { el, keepFocus } from './dom.js';
import { count, duration, stateOf, timeOfDay } from './format.js';

export class DrillDown {
  constructor(panel, { token, onClose }) {
    Object.assign(this, { panel, token, onClose });
    this.source = undefined;
    this.member = undefined;
    panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.close(); });
  }

  /** The class's dashboard and class: a new class closes the panel. */
  setClass(dashboard, group) {
    this.close(false);
    Object.assign(this, { dashboard, group });
  }

  open(member, name) {
    this.stop();
    this.member = member;
    this.panel.hidden = false;
    this.render({ name, loading: true });
    this.panel.querySelector('h2').focus();
    const base = `/v1/dashboards/${encodeURIComponent(this.dashboard)}/${encodeURIComponent(this.group)}/students/${encodeURIComponent(member)}`;
    const source = (this.source = new EventSource(`${base}/events?token=${encodeURIComponent(this.token)}`));
    source.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === 'student') this.render(msg);
      else if (msg.type === 'closed' || msg.type === 'error') this.render({ name, error: msg.reason || msg.error });
    };
    source.onerror = async () => {
      if (source.readyState !== EventSource.CLOSED || this.source !== source) return;
      // Refused (403, 404, 503): EventSource does not say why; the same URL without /events does.
      const res = await fetch(base, { headers: { authorization: `Bearer ${this.token}` } });
      if (this.source === source) this.render({ name, error: res.ok ? 'the live connection was lost' : (await res.json()).error });
    };
  }

  stop() {
    this.source?.close();
    this.source = undefined;
  }

  close(giveFocusBack = true) {
    if (this.member === undefined) return;
    const member = this.member;
    this.stop();
    this.member = undefined;
    this.panel.hidden = true;
    this.panel.replaceChildren();
    this.onClose(member, giveFocusBack);
  }

  render(d) {
    // Keep where the teacher scrolled in each text across live updates.
    const scroll = new Map([...this.panel.querySelectorAll('pre[data-doc]')].map((p) => [p.dataset.doc, p.scrollTop]));
    keepFocus(this.panel, () => this.panel.replaceChildren(
      el('div', { class: 'drill-head' },
        el('h2', { id: 'drill-heading', tabindex: '-1', 'data-focus-key': 'heading' }, d.name ?? this.member),
        el('button', { type: 'button', class: 'close', 'data-focus-key': 'close', onclick: () => this.close() }, 'Close', el('span', { class: 'sr-only' }, ` ${d.name ?? ''} details`))),
      el('div', { class: 'drill-body' }, d.loading ? el('p', {}, 'Loading…') : d.error ? el('p', { class: 'error', role: 'alert' }, d.error) : this.body(d))));
    for (const p of this.panel.querySelectorAll('pre[data-doc]')) p.scrollTop = scroll.get(p.dataset.doc) ?? 0;
  }

  body(d) {
    const r = d.row ?? { member: d.member };
    const facts = [
      ['State', stateOf(r).label], ['Time on task', duration(r.active_ms)], ['Words per minute', count(r.wpm)],
      ['Words written', count(r.words)], ['Characters', count(r.text_length)], ['Events', count(r.events)], ['Last seen', timeOfDay(r.last_seen)],
    ];
    return [
      el('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      el('h3', {}, `Documents (${d.documents.length + d.moreDocuments})`),
      d.documents.length === 0 ? el('p', {}, 'No document text yet.') : d.documents.map((doc, i) => this.document(doc, i)),
      d.moreDocuments ? el('p', {}, `${d.moreDocuments} more documents not shown.`) : null,
      el('h3', {}, 'Recent activity'),
      this.activity(d),
    ];
  }

  document(doc, i) {
    const v = doc.view ?? {};
    const id = `drill-doc-${i}`; // document ids are data (spaces, quotes): not usable as element ids
    return el('section', { class: 'doc', 'aria-labelledby': id, 'data-doc': doc.id },
      el('h4', { id }, doc.id),
      el('p', { class: 'doc-facts' }, `${count(v.words)} words · ${count(v.length)} characters · ${count(v.edits)} edits`),
      doc.text === undefined ? null : el('pre', { tabindex: '0', 'data-doc': doc.id, 'aria-label': `Text of ${doc.id}` }, doc.text || '(empty)'),
      doc.truncated ? el('p', {}, 'The text is longer than shown here.') : null);
  }

  /**
   * Recent activity from the student's own views (whatever of them the pipeline has): the newest typing burst
   * (session_window `bursts`), keys typed and words per minute (`typing`), bursts so far (`burst_stats`), sessions
   * and the last event (`time_on_task`).
   */
  activity(d) {
    const v = d.reducers ?? {};
    const lines = [];
    const open = v.bursts?.open;
    if (open) lines.push(`Latest typing burst: ${timeOfDay(open.window_start)} to ${timeOfDay(open.window_end)}, ${count(open.count)} ${open.count === 1 ? 'key' : 'keys'}`);
    if (v.typing) lines.push(`Keys typed: ${count(v.typing.keystrokes)} in all; ${count(v.typing.wpm)} words per minute over the last minute`);
    if (v.burst_stats?.count) lines.push(`Bursts finished: ${count(v.burst_stats.count)}, ${count(v.burst_stats.mean)} keys on average, longest ${count(v.burst_stats.max)}`);
    if (v.time_on_task) lines.push(`Sessions: ${count(v.time_on_task.sessions)}; last event at ${timeOfDay(v.time_on_task.last_seen)}`);
    if (lines.length === 0) return el('p', {}, 'No activity yet.');
    return el('ul', { class: 'activity' }, ...lines.map((l) => el('li', {}, l)));
  }
}
