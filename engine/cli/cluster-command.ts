// `loflow cluster status`: who holds each partition of a pipeline in Redis, how far it has committed and how
// far behind its log it is (docs/scale-out.md §14 step 5). Read-only: it takes no lease and writes nothing,
// so it is safe against a running server. Output is bounded (--limit rows, the worst partitions first when
// there are more); --json for scripts.
import type { ClusterStatus, PartitionStatus } from '../state/cluster-status.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow cluster status <pipeline.yaml> [options]

The live workers (serve --role worker, by their heartbeats) and how many partitions each holds; then per
partition of the pipeline (P from its partitions: section; P = 1 is the pipeline's own keys): the Redis
node holding its slot, the lease's owner, epoch and time to expiry (or how long ago it expired), the
committed offset, the Redis input log's end and the lag in events (with serve --checkpoint redis), the
entries still in the log, the outbox, dead-letter and fwd (exchange items not yet forwarded) lengths, and how long ago it last committed.
Reads only: safe while servers run.

Options:
  --state URL   redis://host:port or redis-cluster://host:port,host:port,... (env LOFLOW_STATE; the
                pipeline's state:)
  --limit N     at most N partition rows (default 64); with more partitions the worst are shown (unreadable,
                expired lease, most lag) and the rest summed in one line
  --json        the whole status as JSON (rows bounded by --limit the same way)
  --help        this text`;

/** Unreadable first, then expired leases, then by lag: what an operator looks at first. */
const severity = (r: PartitionStatus) => (r.error ? 3e15 : 0) + (r.lease === 'expired' ? 2e15 : 0) + (r.lag ?? 0);

export function bounded(rows: PartitionStatus[], limit: number): { shown: PartitionStatus[]; omitted: { partitions: number; lag: number } } {
  if (rows.length <= limit) return { shown: rows, omitted: { partitions: 0, lag: 0 } };
  const worst = new Set([...rows].sort((a, b) => severity(b) - severity(a) || a.partition - b.partition).slice(0, limit));
  const rest = rows.filter((r) => !worst.has(r));
  return { shown: rows.filter((r) => worst.has(r)), omitted: { partitions: rest.length, lag: rest.reduce((n, r) => n + (r.lag ?? 0), 0) } };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

function leaseText(r: PartitionStatus): string {
  if (r.lease === 'held') return `${secs(r.leaseLeftMs!)} left`;
  if (r.lease === 'expired') return `EXPIRED ${secs(-r.leaseLeftMs!)} ago`;
  return r.lease === 'released' ? 'released' : '-';
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
}

export function formatStatus(s: ClusterStatus, limit: number): string[] {
  const out = [`pipeline ${s.pipeline}  P=${s.partitions}  by=${s.by ?? '-'}  layout=${s.layout ?? '-'}  durability=${s.durability}  (${s.kind})`];
  out.push(`nodes  ${s.nodes.map((n) => `${n.address} (${n.partitions} partition${n.partitions === 1 ? '' : 's'}, ${n.durability}${n.replicas === null ? '' : `, ${n.replicas} replica${n.replicas === 1 ? '' : 's'}`}${n.error ? `, ERROR ${n.error}` : ''})`).join('  ')}`);
  const live = s.workers.filter((w) => w.live);
  const held = (id: string) => s.rows.filter((r) => r.lease === 'held' && r.owner === id).length;
  if (s.workers.length) {
    const gone = s.workers.filter((w) => !w.live);
    out.push(`workers  ${live.length} live: ${live.map((w) => `${w.id} (${held(w.id)} partition${held(w.id) === 1 ? '' : 's'}${w.host ? `, ${w.host} pid ${w.pid}` : ''})`).join('  ') || '-'}${gone.length ? `  gone: ${gone.map((w) => `${w.id} (${secs(-w.heartbeatLeftMs)} ago)`).join('  ')}` : ''}`);
  }
  const { shown, omitted } = bounded(s.rows, limit);
  const dash = (v: number | null) => (v === null ? '-' : String(v));
  const rows = [['part', 'node', 'slot', 'owner', 'epoch', 'lease', 'committed', 'log.end', 'lag', 'in.len', 'outbox', 'dl', 'fwd', 'last.commit']];
  for (const r of shown) {
    if (r.error) {
      rows.push([`p${r.partition}`, r.node, dash(r.slot), `ERROR ${r.error}`, '', '', '', '', '', '', '', '', '']);
      continue;
    }
    rows.push([`p${r.partition}`, r.node, dash(r.slot), r.owner ?? '-', dash(r.epoch), leaseText(r), String(r.committed), dash(r.logEnd), dash(r.lag), String(r.logLength), String(r.outbox), String(r.deadLetters), String(r.forwardPending), r.lastCommitAgeMs === null ? '-' : `${secs(r.lastCommitAgeMs)} ago`]);
  }
  out.push(...table(rows));
  if (omitted.partitions) out.push(`… ${omitted.partitions} more partitions (lag ${omitted.lag} events in all; --limit ${s.rows.length} shows every one)`);
  return out;
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'show a pipeline in Redis: live workers; per partition node, lease owner/epoch/expiry, committed offset, lag, outbox',
  usage,
  requires: ['status', '<pipeline.yaml>'],
  flags: ['json'],
  async run({ positionals, options }) {
    const [sub, file] = positionals;
    if (sub !== 'status') {
      console.error(`unknown cluster subcommand '${sub}': use status\n\n${usage}`);
      return 2;
    }
    const limit = options.limit === undefined ? 64 : Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      console.error(`--limit must be a whole number ≥ 1 (got '${options.limit}')`);
      return 2;
    }
    const pipeline = await loadPipeline(file);
    if (!pipeline) return 1;
    const url = typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state);
    if (typeof url !== 'string' || !/^(redis|rediss|redis-cluster):\/\//.test(url)) {
      console.error(`cluster status reads a Redis state store: give --state redis://host:port or redis-cluster://host:port,... (got ${url ?? 'none'})`);
      return 2;
    }
    const [{ RedisStateStore }, { clusterStatus }] = await Promise.all([import('../state/redis-store.js'), import('../state/cluster-status.js')]);
    let store;
    try {
      store = await RedisStateStore.connect(url);
    } catch (err) {
      console.error(`loflow: cannot reach ${url}: ${(err as Error).message}`);
      return 1;
    }
    try {
      const status = await clusterStatus(store.redis, pipeline);
      if (options.json) {
        const { shown, omitted } = bounded(status.rows, limit);
        console.log(JSON.stringify({ ...status, rows: shown, omitted }, null, 2));
      } else {
        for (const line of formatStatus(status, limit)) console.log(line);
      }
      return status.rows.some((r) => r.error) ? 1 : 0;
    } catch (err) {
      console.error(`loflow: cluster status failed: ${(err as Error).message}`);
      return 1;
    } finally {
      await store.close();
    }
  },
};
