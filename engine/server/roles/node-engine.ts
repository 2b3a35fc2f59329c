// What the HTTP/WebSocket server reads from an engine, for a node that runs no partition tasks (`serve
// --role ingest` or `--role dashboard`): the server's routes, metrics and logging are reused unchanged, and
// each role answers the part it serves (IngestNode: ingest; DashboardNode: the query side). The rest answers
// "nothing here" (no states, no batches), never an invented figure.
import { EventEmitter } from 'node:events';
import type { AggregateResult } from '../../aggregate.js';
import type { Engine, EngineStats, IngestOptions, IngestResult } from '../../runtime.js';
import type { MemberViewParams, MemberViews, Results } from '../../runtime/query-side.js';
import type { PartitionStats } from '../../runtime/partition-task.js';
import type { CompiledPipeline, DeadLetterStore, Json, StateStore } from '../../types.js';

/** The members of Engine the server uses; a role node implements them (tsc checks each against Engine's). */
export type ServedEngine = Pick<
  Engine,
  | 'pipeline' | 'store' | 'deadLetters' | 'ingest' | 'view' | 'stateOf' | 'memberViews' | 'keys' | 'aggregate' | 'ensureLoaded'
  | 'groups' | 'results' | 'clock' | 'health' | 'checkHealth' | 'stats' | 'partitionStats' | 'archivesRawJson'
>;

export type Health = ReturnType<Engine['health']>;

export abstract class NodeEngine extends EventEmitter implements ServedEngine {
  constructor(
    readonly pipeline: CompiledPipeline,
    readonly store: StateStore,
    readonly deadLetters: DeadLetterStore,
    /** What the server logs as the log's kind (an ingest node writes the Redis streams; a dashboard node none). */
    readonly log: { kind: string },
  ) {
    super();
  }

  /** The server takes an Engine: a role node serves the subset ServedEngine names (the routes it registers use no more). */
  asEngine(): Engine {
    return this as unknown as Engine;
  }

  ingest(_stream: string, _events: unknown[], _at?: number, _producer?: { id: string; seq: number }, _opts?: IngestOptions): Promise<IngestResult> {
    return Promise.reject(Object.assign(new Error('this node does not take events (serve --role): send them to an ingest node'), { code: 'NOT_INGEST' }));
  }

  view(_reducer: string, _key: string): Json | undefined {
    return undefined;
  }

  stateOf(_reducer: string, _key: string): Json | undefined {
    return undefined;
  }

  memberViews(_aggregation: string, _member: string, _params?: MemberViewParams): MemberViews {
    return [];
  }

  keys(_reducer: string): string[] {
    return [];
  }

  aggregate(aggregation: string, _group: string): AggregateResult {
    throw new Error(`this node serves no dashboards (serve --role): '${aggregation}' is served by dashboard nodes`);
  }

  async ensureLoaded(_aggregation: string, _group: string): Promise<void> {}

  groups(aggregation: string): string[] {
    return this.pipeline.aggregations.get(aggregation)?.groupBy.lookup?.roster.groups() ?? [];
  }

  results(): Results {
    return { reducers: {}, aggregations: {} };
  }

  clock(): number {
    return 0;
  }

  /** No archive here (a worker archives what it processes, from the Redis streams). */
  archivesRawJson(): boolean {
    return false;
  }

  abstract health(): Health;
  abstract checkHealth(timeoutMs?: number): Promise<Health>;
  abstract stats(): EngineStats;

  partitionStats(): PartitionStats[] {
    return [];
  }
}

/** EngineStats of a node that processes nothing: the counts it has, zeros for the rest. */
export function nodeStats(part: Partial<EngineStats>): EngineStats {
  return { ingested: 0, rejected: 0, processed: 0, failed: 0, emitted: 0, committedOffset: 0, logEnd: 0, queueDepth: 0, batches: 0, lastBatchMs: 0, retries: 0, unknownMembers: 0, unarchived: 0, archiveBacklog: 0, commits: { ok: 0, done: 0, fenced: 0, conflict: 0 }, ...part };
}

/** PING Redis within `timeoutMs`: whether the store answers now. */
export async function redisAnswers(ping: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([ping().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
