// The query side across P partition tasks: a key's state is in exactly one task (its routing value's
// partition), a class's members are spread over tasks, and the view clock is the highest of the tasks'
// clocks (docs/scale-out.md §7), so views and tables equal a single partition's for the same events.
import { aggregateGroup, type AggregateResult, type StateSource } from '../aggregate.js';
import { partitionOf } from '../partition.js';
import type { CachedState } from '../aggregate.js';
import type { CompiledReducer, Json } from '../types.js';
import type { PartitionTask } from './partition-task.js';
import { resultsOf, type MemberViewParams, type MemberViews, type Queries, type Results } from './query-side.js';

export class PartitionedQuery implements Queries {
  /** Per task, its states as an aggregation reads them (built once: the caches are long-lived maps). */
  private readonly sources: StateSource[];

  constructor(
    private readonly tasks: PartitionTask[],
    /** Members no roster knows (the Ingestor's set). */
    private readonly unknown: ReadonlySet<string>,
  ) {
    this.sources = tasks.map((t) => ({
      cache: t.states.cache,
      memberIndex: (r: string, a: string) => t.states.memberIdx.get(r + '\0' + a),
      now: 0,
    }));
  }

  private get pipeline() {
    return this.tasks[0].ctx.pipeline;
  }

  private partitionOfValue(value: string): number {
    return partitionOf(value, this.tasks.length);
  }

  /** The cached state of a key: a plain key is its own routing value; a composite key is looked up in every task. */
  private cell(r: CompiledReducer, key: string): CachedState | undefined {
    if (r.key.components.length === 1) return this.tasks[this.partitionOfValue(key)].states.cache.get(r.name)?.get(key);
    for (const t of this.tasks) {
      const c = t.states.cache.get(r.name)?.get(key);
      if (c) return c;
    }
    return undefined;
  }

  view(reducer: string, key: string): Json | undefined {
    const r = this.tasks[0].stage.byName.get(reducer);
    const c = r && this.cell(r, key);
    if (!r || !c) return undefined;
    return r.op.view ? r.op.view(c.s, r.params, this.clock()) : (c.s as Json);
  }

  stateOf(reducer: string, key: string): Json | undefined {
    const r = this.tasks[0].stage.byName.get(reducer);
    return r && (this.cell(r, key)?.s as Json | undefined);
  }

  keys(reducer: string): string[] {
    return this.tasks.flatMap((t) => t.query.keys(reducer));
  }

  aggregate(aggregation: string, group: string): AggregateResult {
    const { pipeline } = this;
    const agg = pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    const now = this.clock();
    for (const s of this.sources) s.now = now;
    // The compiler refuses P > 1 unless the member key is the routing key: a member's states are in one task.
    // A group-keyed reducer (an exchange reducer keyed by the class) keeps the group's state in the group's partition.
    const src: StateSource = { ...this.sources[0], forMember: (member) => this.sources[this.partitionOfValue(member)], forGroup: (g) => this.sources[this.partitionOfValue(g)] };
    return aggregateGroup(pipeline, agg, group, src, this.unknown.size);
  }

  /** A member's states are all in its partition's task (the compiler keeps member keys on the routing key). */
  memberViews(aggregation: string, member: string, params?: MemberViewParams): MemberViews {
    return this.tasks[this.partitionOfValue(member)].query.memberViews(aggregation, member, params, this.clock());
  }

  /** Each task loads its own members of the group (StateCache.owns), under its own batch lock. */
  async ensureLoaded(aggregation: string, group: string): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.query.ensureLoaded(aggregation, group)));
  }

  groups(aggregation: string): string[] {
    return this.tasks[0].query.groups(aggregation);
  }

  results(): Results {
    return resultsOf(this.pipeline, this);
  }

  /** The view clock: the highest event time any partition processed. */
  clock(): number {
    let now = 0;
    for (const t of this.tasks) if (t.stage.now > now) now = t.stage.now;
    return now;
  }
}
