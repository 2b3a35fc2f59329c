// The query side, what dashboards and `replay` read: views of cached states, aggregations of a group, the
// groups a batch changed, the event-time clock. Reads the working set; only ensureLoaded fills it.
import { aggregateGroup, memberOfKey, relationOf, type AggregateResult } from '../aggregate.js';
import type { CompiledPipeline, CompiledReducer, Json } from '../types.js';
import type { RuntimeContext } from './context.js';
import type { Levels } from './levels.js';
import type { StateCache } from './state-cache.js';

/** What the Engine answers readers with: one partition's QuerySide, or PartitionedQuery across P tasks. */
export interface Queries {
  view(reducer: string, key: string): Json | undefined;
  stateOf(reducer: string, key: string): Json | undefined;
  keys(reducer: string): string[];
  aggregate(aggregation: string, group: string): AggregateResult;
  ensureLoaded(aggregation: string, group: string): Promise<void>;
  groups(aggregation: string): string[];
  results(): Results;
  clock(): number;
  /** One member's states and views under an aggregation (a student's drill-down). */
  memberViews(aggregation: string, member: string, params?: MemberViewParams): MemberViews;
}

export type MemberViewParams = (r: CompiledReducer) => Record<string, unknown> | undefined;
export type MemberViews = Array<{ reducer: string; key: string; view: Json }>;

export type Results = {
  reducers: Record<string, Record<string, Json>>;
  aggregations: Record<string, Record<string, AggregateResult>>;
};

/** Every reducer's views by key (sorted) and every aggregation's groups: what `replay` prints. */
export function resultsOf(pipeline: CompiledPipeline, q: Queries): Results {
  const reducers: Record<string, Record<string, Json>> = {};
  for (const r of pipeline.reducers) {
    const out: Record<string, Json> = {};
    for (const key of q.keys(r.name).sort()) out[key] = q.view(r.name, key)!;
    reducers[r.name] = out;
  }
  const aggregations: Record<string, Record<string, AggregateResult>> = {};
  for (const name of pipeline.aggregations.keys()) {
    const out: Record<string, AggregateResult> = {};
    for (const g of q.groups(name)) out[g] = q.aggregate(name, g);
    aggregations[name] = out;
  }
  return { reducers, aggregations };
}

export class QuerySide implements Queries {
  constructor(
    private readonly ctx: RuntimeContext,
    private readonly states: StateCache,
    private readonly stage: Levels,
    /** Members no roster knows (the Ingestor's set): shown with each aggregation. */
    private readonly unknown: ReadonlySet<string>,
    /** Runs fn under the batch lock (LogConsumer.exclusive). */
    private readonly exclusive: (fn: () => Promise<void>) => Promise<void>,
  ) {}

  view(reducer: string, key: string): Json | undefined {
    const r = this.stage.byName.get(reducer);
    const c = this.states.cache.get(reducer)?.get(key);
    if (!r || !c) return undefined;
    return r.op.view ? r.op.view(c.s, r.params, this.stage.now) : (c.s as Json);
  }

  /** A key's raw state in the working set (what is committed): for rebuilds and the state-size metric. */
  stateOf(reducer: string, key: string): Json | undefined {
    return this.states.cache.get(reducer)?.get(key)?.s as Json | undefined;
  }

  /**
   * One member's states as an aggregation relates them to it (its own key, or its composite keys: a
   * student's documents), each with its view; `params` may override a reducer's params for the view only
   * (a drill-down asks reconstruct_text for the text itself). Only the working set: ensureLoaded the class first.
   */
  memberViews(aggregation: string, member: string, params?: MemberViewParams, now = this.stage.now): MemberViews {
    const agg = this.ctx.pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    const out: Array<{ reducer: string; key: string; view: Json }> = [];
    for (const r of this.ctx.pipeline.reducers) {
      const rel = relationOf(r, agg);
      const states = this.states.cache.get(r.name);
      if (!states) continue;
      const keys = rel.kind === 'member' ? [member] : rel.kind === 'composite' ? this.states.memberIdx.get(r.name + '\0' + agg.name)?.get(member) ?? [] : [];
      for (const key of keys) {
        const c = states.get(key);
        if (!c) continue;
        const p = { ...(r.params as object), ...params?.(r) };
        out.push({ reducer: r.name, key, view: r.op.view ? r.op.view(c.s, p, now) : (c.s as Json) });
      }
    }
    return out;
  }

  keys(reducer: string): string[] {
    return [...(this.states.cache.get(reducer)?.keys() ?? [])];
  }

  aggregate(aggregation: string, group: string): AggregateResult {
    const { pipeline } = this.ctx;
    const agg = pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    const memberIdx = this.states.memberIdx;
    return aggregateGroup(pipeline, agg, group, {
      cache: this.states.cache,
      memberIndex: (r, a) => memberIdx.get(r + '\0' + a),
      now: this.stage.now,
    }, this.unknown.size);
  }

  /**
   * Load a group's (class's) states that the working set lacks, so its table shows every member: after a
   * restart the working set holds only the keys that events have touched since. One store read for the
   * member- and group-keyed states (the roster gives their keys); with composite keys (student|doc), one
   * read of the store's per-part index before it (stores without one: composite states stay as events load
   * them). Runs under the batch lock, so no batch sees half a load; a class is read once (see StateCache.warmed).
   */
  async ensureLoaded(aggregation: string, group: string): Promise<void> {
    if (!this.states.toWarm(aggregation, group, this.stage.byName)) return; // the common case: no lock, no await
    await this.exclusive(() => this.states.warm(aggregation, group, this.stage.byName));
  }

  groups(aggregation: string): string[] {
    const agg = this.ctx.pipeline.aggregations.get(aggregation);
    if (!agg) throw new Error(`unknown aggregation '${aggregation}'`);
    return agg.groupBy.lookup?.roster.groups() ?? [];
  }

  /** Every reducer's views by key (sorted) and every aggregation's groups: what `replay` prints. */
  results(): Results {
    return resultsOf(this.ctx.pipeline, this);
  }

  /** Per aggregation, the groups whose rows a batch's changed keys touch (for dashboards' pushes). */
  changedGroups(dirty: Map<string, Set<string>>): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const byName = this.stage.byName;
    for (const agg of this.ctx.pipeline.aggregations.values()) {
      const roster = agg.groupBy.lookup?.roster;
      const groups = new Set<string>();
      for (const [name, keys] of dirty) {
        const rel = relationOf(byName.get(name)!, agg);
        if (rel.kind === 'none') continue;
        for (const key of keys) {
          if (rel.kind === 'group') groups.add(key);
          else {
            const g = roster?.groupOf(memberOfKey(rel, key)!);
            if (g !== undefined) groups.add(g);
          }
        }
      }
      if (groups.size) out.set(agg.name, groups);
    }
    return out;
  }

  /** The pipeline's event-time clock: the highest event time processed. */
  clock(): number {
    return this.stage.now;
  }
}
