// `loflow serve --role dashboard` (docs/scale-out.md §7): serves teachers' dashboards (JSON, SSE, WebSocket,
// the page, a student's drill-down) with the same routes, access checks (tokens, sign-in, a teacher's own
// classes only), audit records, fairness and min_interval as the single process, from the states workers
// commit to Redis: RemoteQuery answers, the ChangeFeed tells it what changed. With `--role ingest,dashboard`
// it also takes events (through an IngestNode).
import type { AggregateResult } from '../../aggregate.js';
import { ChangeFeed } from '../../runtime/change-feed.js';
import { RemoteQuery } from '../../runtime/remote-query.js';
import type { EngineStats, IngestOptions, IngestResult } from '../../runtime.js';
import type { MemberViewParams, MemberViews, Results } from '../../runtime/query-side.js';
import { partitionTag } from '../../state/key-layout.js';
import type { RedisStateStore } from '../../state/redis-store.js';
import type { CompiledPipeline, DeadLetterStore, Json } from '../../types.js';
import type { IngestNode } from './ingest-node.js';
import { NodeEngine, nodeStats, redisAnswers, type Health } from './node-engine.js';

export class DashboardNode extends NodeEngine {
  private readonly remote: RemoteQuery;
  private feed!: ChangeFeed;

  private constructor(
    pipeline: CompiledPipeline,
    private readonly redisStore: RedisStateStore,
    deadLetters: DeadLetterStore,
    private readonly ingestNode?: IngestNode,
  ) {
    super(pipeline, redisStore, deadLetters, { kind: ingestNode ? 'redis' : 'none', ...(ingestNode ? { reusesRawJson: true } : {}) } as { kind: string });
    this.remote = new RemoteQuery(pipeline, redisStore, this);
  }

  /** Reads the partitions' chg positions and clocks, then follows the chg streams. */
  static async open(pipeline: CompiledPipeline, store: RedisStateStore, deadLetters: DeadLetterStore, opts: { ingest?: IngestNode } = {}): Promise<DashboardNode> {
    const node = new DashboardNode(pipeline, store, deadLetters, opts.ingest);
    const count = pipeline.partitions?.count ?? 1;
    const tags = Array.from({ length: count }, (_, n) => partitionTag(pipeline.name, n, count));
    node.feed = new ChangeFeed(store.redis, tags, (round) => node.remote.apply(round));
    node.remote.setClocks(await node.feed.open());
    node.feed.start();
    return node;
  }

  ingest(stream: string, events: unknown[], at?: number, producer?: { id: string; seq: number }, opts?: IngestOptions): Promise<IngestResult> {
    return this.ingestNode ? this.ingestNode.ingest(stream, events, at, producer, opts) : super.ingest(stream, events, at, producer, opts);
  }

  view(reducer: string, key: string): Json | undefined {
    return this.remote.query.view(reducer, key);
  }

  stateOf(reducer: string, key: string): Json | undefined {
    return this.remote.query.stateOf(reducer, key);
  }

  memberViews(aggregation: string, member: string, params?: MemberViewParams): MemberViews {
    return this.remote.query.memberViews(aggregation, member, params);
  }

  keys(reducer: string): string[] {
    return this.remote.query.keys(reducer);
  }

  aggregate(aggregation: string, group: string): AggregateResult {
    return this.remote.query.aggregate(aggregation, group);
  }

  ensureLoaded(aggregation: string, group: string): Promise<void> {
    return this.remote.ensureLoaded(aggregation, group);
  }

  groups(aggregation: string): string[] {
    return this.remote.query.groups(aggregation);
  }

  results(): Results {
    return this.remote.query.results();
  }

  clock(): number {
    return this.remote.query.clock();
  }

  health(): Health {
    const err = this.feed.lastError;
    if (err !== null) return { ok: false, error: `reading changes from redis fails: ${(err as Error).message}`, storeDown: true, stalledMs: 0 };
    return this.ingestNode?.health() ?? { ok: true, error: null, storeDown: false, stalledMs: 0 };
  }

  async checkHealth(timeoutMs = 1000): Promise<Health> {
    if (!(await redisAnswers(() => this.redisStore.redis.ping(), timeoutMs))) return { ok: false, error: 'redis does not answer', storeDown: true, stalledMs: 0 };
    return this.health();
  }

  stats(): EngineStats {
    return { ...(this.ingestNode?.stats() ?? nodeStats({})), resnapshots: this.remote.resnapshots };
  }

  async stop(): Promise<void> {
    await this.feed.stop();
    if (!this.ingestNode) await this.deadLetters.close();
  }
}
