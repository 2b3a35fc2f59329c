// Live dashboards: a snapshot on subscribe (once the engine has loaded the class's states: after a restart
// they are read from the store when the class is first watched), then deltas (changed rows, changed summary) at most once per
// dashboard interval. Only classes that changed AND have subscribers are aggregated, in round-robin order;
// when ticks' work exceeds their budget (smoothed over a few ticks), the effective interval grows (dashboards refresh less often instead
// of falling behind without bound) and shrinks back when load drops. A subscriber that does not read (its
// transport holds more unsent bytes than a bound) is skipped, then gets one fresh snapshot once it has drained
// (latest state wins); one behind for longer than maxStaleMs is closed. Nothing queues up for a slow reader.
import type { AggregateResult, BatchInfo, Engine } from '../runtime.js';
import type { DashboardSpec } from '../types.js';
import { deltaJson } from './delta-json.js';
import type { Metrics } from './metrics.js';

export interface Subscriber {
  /** The message, and its JSON (made once per push, not once per subscriber). */
  send(message: unknown, json: string): void;
  /** True while the transport holds more unsent bytes than it should: the subscriber is skipped. */
  busy?(): boolean;
  /** Ends the connection (a subscriber that stayed behind too long). */
  close?(reason: string): void;
}

export interface HubOptions {
  /** How long a subscriber may stay unable to take messages before it is closed (default 30 s). */
  maxStaleMs?: number;
}

interface Topic {
  dashboard: DashboardSpec;
  group: string;
  subscribers: Set<Subscriber>;
  /** Subscribed, waiting for the class's states to load before their snapshot. */
  waiting: Set<Subscriber>;
  /** Rows and summary last sent, as JSON, to compute deltas. */
  lastRows: Map<string, string>;
  lastSummary: string;
  dirty: boolean;
  /** Subscribers skipped while busy, with when they fell behind: each gets a snapshot once it drains. */
  stale: Map<Subscriber, number>;
}

export class DashboardHub {
  private readonly topics = new Map<string, Topic>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Effective interval per dashboard (ms). */
  readonly interval = new Map<string, number>();
  private cursor = 0;
  /** Per dashboard, the tick time smoothed over the last ticks (ms): what the interval follows. */
  private readonly tickLoad = new Map<string, number>();
  private closed = false;
  private readonly onBatch = (b: BatchInfo) => this.markChanged(b);
  private readonly onReload = () => this.reload();

  constructor(
    private readonly engine: Engine,
    private readonly metrics: Metrics,
    /** Told when a dashboard's effective interval changes (overload makes it grow, calm shrinks it back). */
    private readonly onInterval?: (dashboard: string, fromMs: number, toMs: number) => void,
    private readonly options: HubOptions = {},
  ) {
    engine.on('batch', this.onBatch);
    engine.on('reload', this.onReload);
    for (const d of engine.pipeline.dashboards.values()) this.schedule(d, d.minIntervalMs);
  }

  private key(dashboard: string, group: string) {
    return `${dashboard}\0${group}`;
  }

  /** The class's table, its states first loaded from the store if the engine has not loaded them (after a restart). */
  async snapshot(dashboard: DashboardSpec, group: string): Promise<AggregateResult> {
    await this.engine.ensureLoaded(dashboard.aggregation, group);
    return this.engine.aggregate(dashboard.aggregation, group);
  }

  /**
   * Registered at once (a reload or removal reaches it), but the snapshot, and deltas after it, follow once
   * the class's states are loaded; if they cannot be (store unavailable) the subscriber gets an 'error'.
   */
  subscribe(dashboard: DashboardSpec, group: string, sub: Subscriber): () => void {
    const k = this.key(dashboard.name, group);
    let t = this.topics.get(k);
    if (!t) this.topics.set(k, (t = { dashboard, group, subscribers: new Set(), waiting: new Set(), lastRows: new Map(), lastSummary: '', dirty: false, stale: new Map() }));
    const topic = t;
    topic.waiting.add(sub);
    this.engine.ensureLoaded(dashboard.aggregation, group).then(
      () => {
        if (this.closed || !topic.waiting.delete(sub)) return; // unsubscribed, removed or closed meanwhile
        // Bring the other subscribers up to date first: the rows last sent are reset to this snapshot.
        if (topic.dirty && topic.subscribers.size) this.push(topic);
        const snap = this.engine.aggregate(topic.dashboard.aggregation, group);
        topic.lastRows = new Map(snap.rows.map((r) => [r.member, JSON.stringify(r)]));
        topic.lastSummary = JSON.stringify(snap.summary);
        topic.subscribers.add(sub);
        const msg = { type: 'snapshot', ...snap, interval_ms: this.interval.get(topic.dashboard.name) };
        sub.send(msg, JSON.stringify(msg));
      },
      (err: unknown) => {
        if (this.closed || !topic.waiting.delete(sub)) return;
        this.forget(k, topic);
        const msg = { type: 'error', error: `the class could not be loaded: ${err instanceof Error ? err.message : String(err)}` };
        sub.send(msg, JSON.stringify(msg));
      },
    );
    return () => {
      topic.waiting.delete(sub);
      topic.subscribers.delete(sub);
      topic.stale.delete(sub);
      this.forget(k, topic);
    };
  }

  /** Drop a topic nobody watches or waits for (only if it is still the registered one). */
  private forget(k: string, t: Topic): void {
    if (t.subscribers.size === 0 && t.waiting.size === 0 && this.topics.get(k) === t) this.topics.delete(k);
  }

  /** Marks the watched classes a batch changed: by lookup when it changed fewer classes than are watched. */
  private markChanged(b: BatchInfo): void {
    let changed = 0;
    for (const groups of b.changedGroups.values()) changed += groups.size;
    if (changed >= this.topics.size) {
      for (const t of this.topics.values()) if (b.changedGroups.get(t.dashboard.aggregation)?.has(t.group)) t.dirty = true;
      return;
    }
    for (const d of this.engine.pipeline.dashboards.values()) {
      const groups = b.changedGroups.get(d.aggregation);
      if (!groups) continue;
      for (const g of groups) {
        const t = this.topics.get(this.key(d.name, g));
        if (t) t.dirty = true;
      }
    }
  }

  /**
   * A live swap: subscribers keep their connection and get the edited dashboard (new columns, new
   * interval) at the next tick; a dashboard that was removed tells its subscribers and closes.
   */
  private reload(): void {
    const dashboards = this.engine.pipeline.dashboards;
    for (const [k, t] of this.topics) {
      const d = dashboards.get(t.dashboard.name);
      if (d) {
        t.dashboard = d;
        t.dirty = true;
        // A reloaded roster may add members to a watched class: their stored states (after a restart)
        // are loaded, then the class is pushed again (if the read fails, their next events show them).
        const topic = t;
        this.engine.ensureLoaded(d.aggregation, t.group).then(() => (topic.dirty = true), () => {});
        continue;
      }
      const msg = { type: 'closed', reason: `dashboard '${t.dashboard.name}' was removed from the pipeline` };
      const json = JSON.stringify(msg);
      for (const s of [...t.subscribers, ...t.waiting]) s.send(msg, json);
      t.waiting.clear();
      this.topics.delete(k);
    }
    for (const [name, timer] of this.timers) {
      if (dashboards.has(name)) continue;
      clearTimeout(timer);
      this.timers.delete(name);
      this.interval.delete(name);
    }
    for (const d of dashboards.values()) {
      const timer = this.timers.get(d.name);
      if (timer) clearTimeout(timer);
      this.schedule(d, Math.max(d.minIntervalMs, Math.min(this.interval.get(d.name) ?? d.minIntervalMs, d.minIntervalMs * 20)));
    }
  }

  private schedule(d: DashboardSpec, ms: number): void {
    const before = this.interval.get(d.name);
    if (before !== undefined && before !== ms) this.onInterval?.(d.name, before, ms);
    this.interval.set(d.name, ms);
    this.metrics.interval.set({ dashboard: d.name }, ms);
    const timer = setTimeout(() => this.tick(d), ms);
    timer.unref();
    this.timers.set(d.name, timer);
  }

  private tick(d: DashboardSpec): void {
    const ms = this.interval.get(d.name)!;
    const budget = ms / 2;
    const t0 = performance.now();
    const topics = [...this.topics.values()].filter((t) => t.dashboard.name === d.name && ((t.dirty && t.subscribers.size > 0) || t.stale.size > 0));
    let done = 0;
    // Round-robin: start where the last tick stopped, so every class gets its turn under load.
    for (let i = 0; i < topics.length; i++) {
      const t = topics[(this.cursor + i) % topics.length];
      this.push(t);
      done++;
      if (performance.now() - t0 > budget) break;
    }
    this.cursor = topics.length ? (this.cursor + done) % topics.length : 0;
    const spent = performance.now() - t0;
    this.metrics.tickSeconds.observe({ dashboard: d.name }, spent / 1000);
    // Decide on the smoothed tick time, not one tick's: a tick stretched by a GC pause or a busy core is not
    // overload, and growing on it kept the interval (so every push) above min_interval for many ticks (the
    // dashboard p99 tail). Sustained overload still grows it within a few ticks: each cut-short tick costs
    // the whole budget.
    const before = this.tickLoad.get(d.name);
    const load = before === undefined ? spent : before + (spent - before) * 0.3;
    this.tickLoad.set(d.name, load);
    let next = ms;
    if (load > budget) next = Math.min(d.minIntervalMs * 20, Math.ceil(ms * 1.5));
    // Shrink back under a quarter of the interval (grow above a half: room to avoid flapping).
    else if (load < budget / 2) next = Math.max(d.minIntervalMs, Math.floor(ms / 1.5));
    this.schedule(d, next);
  }

  private push(t: Topic): void {
    if (!t.dirty) return this.catchUp(t);
    t.dirty = false;
    // Subscribed classes are loaded, and batches keep them so: no store read here.
    const snap = this.engine.aggregate(t.dashboard.aggregation, t.group);
    this.catchUp(t, snap);
    const rows = [];
    const rowsJson: string[] = [];
    for (const r of snap.rows) {
      const json = JSON.stringify(r);
      if (t.lastRows.get(r.member) !== json) {
        rows.push(r);
        rowsJson.push(json);
        t.lastRows.set(r.member, json);
      }
    }
    const summary = JSON.stringify(snap.summary);
    const summaryChanged = summary !== t.lastSummary;
    t.lastSummary = summary;
    if (rows.length === 0 && !summaryChanged) return;
    const msg = { type: 'delta', aggregation: snap.aggregation, group: t.group, rows, summary: snap.summary, at: Date.now(), interval_ms: this.interval.get(t.dashboard.name) };
    const json = deltaJson(msg, rowsJson, summary);
    let sent = 0;
    for (const s of t.subscribers) {
      if (t.stale.has(s)) continue;
      if (s.busy?.()) {
        // Behind: this delta is not queued for it; it gets the whole table once it drains.
        t.stale.set(s, Date.now());
        this.metrics.slowSubscribers.inc({ dashboard: t.dashboard.name });
        continue;
      }
      s.send(msg, json);
      sent++;
    }
    this.metrics.pushes.inc({ dashboard: t.dashboard.name }, sent);
  }

  /** Stale subscribers that drained get the current table; those behind for too long are closed. */
  private catchUp(t: Topic, snap?: AggregateResult): void {
    if (t.stale.size === 0) return;
    const now = Date.now();
    const maxStaleMs = this.options.maxStaleMs ?? 30_000;
    let msg: unknown;
    let json = '';
    for (const [s, since] of t.stale) {
      if (s.busy?.()) {
        if (now - since > maxStaleMs) {
          t.stale.delete(s);
          s.close?.(`not reading: behind for over ${maxStaleMs / 1000} s`);
        }
        continue;
      }
      if (msg === undefined) {
        snap ??= this.engine.aggregate(t.dashboard.aggregation, t.group);
        msg = { type: 'snapshot', ...snap, interval_ms: this.interval.get(t.dashboard.name) };
        json = JSON.stringify(msg);
      }
      t.stale.delete(s);
      s.send(msg, json);
    }
  }

  subscriberCount(): number {
    let n = 0;
    for (const t of this.topics.values()) n += t.subscribers.size;
    return n;
  }

  close(): void {
    this.closed = true;
    this.engine.off('batch', this.onBatch);
    this.engine.off('reload', this.onReload);
    for (const t of this.timers.values()) clearTimeout(t);
    this.topics.clear();
  }
}
