// Live drill-downs: one student's detail (student-detail.ts) pushed to the teachers watching it. A snapshot on
// subscribe, then the whole detail again (at most once per interval) when a batch changed the student's class
// and the detail differs from what that subscriber last got. Every message is the full detail, so a subscriber
// that does not read is just skipped (it gets the latest once it drains) and closed when behind for too long.
// The number of open drill-downs is bounded: past it, a new one is refused (503) instead of slowing all.
import type { BatchInfo, Engine } from '../runtime.js';
import type { DashboardSpec } from '../types.js';
import type { Subscriber } from './dashboard-hub.js';
import { rosterOf, studentDetail } from './student-detail.js';

export interface StudentFeedOptions {
  /** How often changed drill-downs are pushed (ms, default 1000). */
  intervalMs?: number;
  /** Open drill-downs in all (default 500). */
  maxSubscribers?: number;
  /** How long a subscriber may stay unable to take messages before it is closed (default 30 s). */
  maxStaleMs?: number;
}

interface Topic {
  dashboard: DashboardSpec;
  group: string;
  member: string;
  /** subscriber -> the JSON it last got ('' while waiting for its snapshot). */
  subs: Map<Subscriber, string>;
  /** Subscribers that were busy, with since when. */
  behind: Map<Subscriber, number>;
  dirty: boolean;
}

export class StudentFeed {
  private readonly topics = new Map<string, Topic>();
  private readonly timer: NodeJS.Timeout;
  private readonly onBatch = (b: BatchInfo) => {
    for (const t of this.topics.values()) if (b.changedGroups.get(t.dashboard.aggregation)?.has(t.group)) t.dirty = true;
  };
  private readonly onReload = () => {
    for (const t of this.topics.values()) t.dirty = true;
  };

  constructor(
    private readonly engine: Engine,
    private readonly options: StudentFeedOptions = {},
  ) {
    engine.on('batch', this.onBatch);
    engine.on('reload', this.onReload);
    this.timer = setInterval(() => this.tick(), options.intervalMs ?? 1000);
    this.timer.unref();
  }

  count(): number {
    let n = 0;
    for (const t of this.topics.values()) n += t.subs.size;
    return n;
  }

  /** Registers a subscriber (its snapshot follows once the class is loaded); undefined when the feed is full. */
  subscribe(dashboard: DashboardSpec, group: string, member: string, sub: Subscriber): (() => void) | undefined {
    if (this.count() >= (this.options.maxSubscribers ?? 500)) return undefined;
    const k = `${dashboard.name}\0${group}\0${member}`;
    let t = this.topics.get(k);
    if (!t) this.topics.set(k, (t = { dashboard, group, member, subs: new Map(), behind: new Map(), dirty: false }));
    const topic = t;
    topic.subs.set(sub, '');
    this.engine.ensureLoaded(dashboard.aggregation, group).then(
      () => {
        if (topic.subs.get(sub) !== '') return; // gone, or a tick already sent it the detail
        this.sendTo(topic, sub, this.message(topic));
      },
      (err: unknown) => {
        if (!topic.subs.delete(sub)) return;
        const msg = { type: 'error', error: `the class could not be loaded: ${err instanceof Error ? err.message : String(err)}` };
        sub.send(msg, JSON.stringify(msg));
      },
    );
    return () => {
      topic.subs.delete(sub);
      topic.behind.delete(sub);
      if (topic.subs.size === 0 && this.topics.get(k) === topic) this.topics.delete(k);
    };
  }

  /** The detail message, or 'closed' when the dashboard or the student left the pipeline (a live edit). */
  private message(t: Topic): { msg: unknown; json: string } {
    const d = this.engine.pipeline.dashboards.get(t.dashboard.name);
    const msg = !d || !rosterOf(this.engine, d).members(t.group).includes(t.member)
      ? { type: 'closed', reason: 'the student or the dashboard is no longer in the pipeline' }
      : { type: 'student', ...studentDetail(this.engine, (t.dashboard = d), t.group, t.member) };
    return { msg, json: JSON.stringify(msg) };
  }

  private sendTo(t: Topic, sub: Subscriber, m: { msg: unknown; json: string }): void {
    if (t.subs.get(sub) === m.json) return;
    t.subs.set(sub, m.json);
    sub.send(m.msg, m.json);
  }

  private tick(): void {
    const now = Date.now();
    const maxStaleMs = this.options.maxStaleMs ?? 30_000;
    for (const t of this.topics.values()) {
      if (!t.dirty && t.behind.size === 0) continue;
      t.dirty = false;
      // Subscribers still waiting for their snapshot ('') get it from subscribe, not here.
      const ready = [...t.subs].filter(([, last]) => last !== '').map(([s]) => s);
      if (ready.length === 0) continue;
      const m = this.message(t);
      for (const s of ready) {
        if (s.busy?.()) {
          const since = t.behind.get(s) ?? now;
          t.behind.set(s, since);
          if (now - since > maxStaleMs) {
            t.behind.delete(s);
            s.close?.(`not reading: behind for over ${maxStaleMs / 1000} s`);
          }
          continue;
        }
        t.behind.delete(s);
        this.sendTo(t, s, m);
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.engine.off('batch', this.onBatch);
    this.engine.off('reload', this.onReload);
    this.topics.clear();
  }
}
