// Prometheus metrics (prom-client), one registry per server so tests can run several.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../runtime.js';
import { registerPartitionMetrics } from './partition-metrics.js';
import { ARCHIVE_LAG_LIMIT } from '../runtime/archive-feed.js';

export function createMetrics(engine: Engine) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'loflow_process_' });
  const eventsIn = new Counter({ name: 'loflow_events_in_total', help: 'events accepted by ingest', labelNames: ['source'], registers: [registry] });
  const rejected = new Counter({ name: 'loflow_events_rejected_total', help: 'events rejected at ingest', labelNames: ['source', 'reason'], registers: [registry] });
  const pushes = new Counter({ name: 'loflow_dashboard_pushes_total', help: 'dashboard updates pushed to subscribers', labelNames: ['dashboard'], registers: [registry] });
  const connections = new Gauge({ name: 'loflow_connections', help: 'open connections', labelNames: ['kind'], registers: [registry] });
  const interval = new Gauge({ name: 'loflow_dashboard_effective_interval_ms', help: 'current push interval (grows under overload)', labelNames: ['dashboard'], registers: [registry] });
  // The tick's own time: a tick over half the interval makes the interval grow, so this says why it grew.
  const tickSeconds = new Histogram({ name: 'loflow_dashboard_tick_seconds', help: "time one dashboard tick took (aggregating and pushing the classes that changed); over half the push interval makes the interval grow", labelNames: ['dashboard'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] });
  const slowSubscribers = new Counter({ name: 'loflow_dashboard_slow_subscribers_total', help: 'times a dashboard subscriber was skipped for not reading (it gets a snapshot once it drains)', labelNames: ['dashboard'], registers: [registry] });
  const refused = new Counter({ name: 'loflow_requests_refused_total', help: 'requests refused as a whole (malformed, too large, bad URL, auth), by route kind and reason', labelNames: ['kind', 'reason'], registers: [registry] });
  const wsClosed = new Counter({ name: 'loflow_websocket_closed_by_server_total', help: 'WebSockets the server closed for a protocol or policy reason, by kind and close code', labelNames: ['kind', 'code'], registers: [registry] });
  new Gauge({
    name: 'loflow_queue_depth',
    help: 'accepted events not yet processed',
    registers: [registry],
    collect() {
      this.set(engine.stats().queueDepth);
    },
  });
  new Gauge({
    name: 'loflow_archive_backlog_events',
    help: `processed events handed to the archive writer and not yet taken by it (past ${ARCHIVE_LAG_LIMIT} processing waits for it)`,
    registers: [registry],
    collect() {
      this.set(engine.stats().archiveBacklog);
    },
  });
  new Gauge({
    name: 'loflow_processing_lag_events',
    help: 'events between the log end and the committed offset',
    registers: [registry],
    collect() {
      const s = engine.stats();
      this.set(s.logEnd - s.committedOffset);
    },
  });
  new Counter({
    name: 'loflow_commits_total',
    help: 'batch commits by answer: ok, done (a lost reply found applied), fenced / conflict (refused: another process owns the pipeline)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [result, n] of Object.entries(engine.stats().commits)) this.inc({ result }, n);
    },
  });
  new Counter({
    name: 'loflow_reducer_failures_total',
    help: 'events a reducer failed on (dead-lettered)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(engine.stats().failed);
    },
  });
  new Counter({
    name: 'loflow_dashboard_resnapshots_total',
    help: 'dashboard node: partitions re-read whole because their change stream was trimmed before this node read it (it fell behind)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(engine.stats().resnapshots ?? 0);
    },
  });
  new Counter({
    name: 'loflow_archive_skipped_total',
    help: 'processed events the archive could not encode (dead-lettered with stage archive)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(engine.stats().unarchived);
    },
  });
  new Gauge({
    name: 'loflow_reducer_keys',
    help: 'keys with state per reducer',
    labelNames: ['reducer'],
    registers: [registry],
    collect() {
      for (const r of engine.pipeline.reducers) this.set({ reducer: r.name }, engine.keys(r.name).length);
    },
  });
  new Gauge({
    name: 'loflow_reducer_state_bytes',
    help: 'estimated bytes of state per reducer (JSON of up to 200 sampled cached states, scaled to the key count)',
    labelNames: ['reducer'],
    registers: [registry],
    collect() {
      for (const r of engine.pipeline.reducers) this.set({ reducer: r.name }, estimateStateBytes(engine, r.name));
    },
  });
  registerPartitionMetrics(engine, registry);
  return { registry, eventsIn, rejected, pushes, connections, interval, tickSeconds, slowSubscribers, refused, wsClosed };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * JSON size of a reducer's cached states. Above SAMPLE keys, an evenly spaced sample is measured and
 * scaled up, so a scrape costs the same however many students a reducer holds.
 */
export function estimateStateBytes(engine: Engine, reducer: string, SAMPLE = 200): number {
  const keys = engine.keys(reducer);
  if (keys.length === 0) return 0;
  const step = Math.max(1, Math.floor(keys.length / SAMPLE));
  let bytes = 0;
  let measured = 0;
  for (let i = 0; i < keys.length; i += step) {
    bytes += Buffer.byteLength(JSON.stringify(engine.stateOf(reducer, keys[i]) ?? null)) + Buffer.byteLength(keys[i]);
    measured++;
  }
  return Math.round((bytes / measured) * keys.length);
}
