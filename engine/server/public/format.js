// How the page writes values for a teacher: durations in minutes and hours, counts with separators, times of
// day, and a student's state in words. Pure functions (no DOM), so they are easy to test in the browser.

/** 0 → "0 s", 200 → "under 1 s", 65_000 → "1 min 5 s", 3_900_000 → "1 h 5 min". */
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms > 0 && ms < 500) return 'under 1 s';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export function count(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  return Number.isInteger(v) ? v.toLocaleString('en') : v.toLocaleString('en', { maximumFractionDigits: 1 });
}

/** An event time (ms since the epoch) as a time of day; the date too when it is not today. */
export function timeOfDay(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return '–';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString('en', { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : d.toLocaleString('en');
}

/** Whether a row has any state: students without one are "not yet seen" (grouped apart, not a row of dashes). */
export function seen(row) {
  return Object.keys(row).some((k) => k !== 'member' && row[k] !== undefined && row[k] !== null);
}

/**
 * A student's state in words. "Active" alone said nothing about typing (a student who only opened a page was
 * "active"), so: writing (typed in the last minute), on task (events, but no typing), idle, not yet seen.
 */
export function stateOf(row) {
  if (!seen(row)) return { key: 'unseen', label: 'not yet seen' };
  if (row.idle === true) return { key: 'idle', label: 'idle' };
  if (typeof row.wpm === 'number' && row.wpm > 0) return { key: 'writing', label: 'writing' };
  return { key: 'on-task', label: 'on task, not typing' };
}

/** The columns the page knows how to show, in order; others of the aggregation follow as plain numbers. */
export const knownColumns = [
  { key: 'state', label: 'State', value: (r) => stateOf(r).label, sortValue: (r) => ['writing', 'on-task', 'idle', 'unseen'].indexOf(stateOf(r).key) },
  { key: 'active_ms', label: 'Time on task', value: (r) => duration(r.active_ms), numeric: true },
  { key: 'wpm', label: 'Words per minute', value: (r) => count(r.wpm), numeric: true },
  { key: 'words', label: 'Words written', value: (r) => count(r.words), numeric: true },
  { key: 'text_length', label: 'Characters', value: (r) => count(r.text_length), numeric: true },
  { key: 'documents', label: 'Documents', value: (r) => count(r.documents), numeric: true },
  { key: 'bursts', label: 'Typing bursts', value: (r) => count(r.bursts), numeric: true },
  { key: 'events', label: 'Events', value: (r) => count(r.events), numeric: true },
  { key: 'last_seen', label: 'Last seen', value: (r) => timeOfDay(r.last_seen), numeric: true },
];

/** A column's header text: known ones by name, others from their id (mean_burst → "Mean burst"). */
export function label(key) {
  const known = knownColumns.find((c) => c.key === key);
  if (known) return known.label;
  const s = key.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
