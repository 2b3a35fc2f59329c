// The query side of a dashboard node (docs/scale-out.md §7): the same QuerySide / PartitionedQuery the
// single process answers with, over per-partition state caches that are filled from Redis instead of by
// batches. A class's table is loaded when a teacher first asks for it (ensureLoaded: one MGET per
// partition, all at once); afterwards each round of the ChangeFeed re-reads the changed keys of the classes
// being watched (again one MGET per partition), moves each partition's clock, and emits 'batch' so the
// DashboardHub pushes deltas with its usual fairness and min_interval. After a gap in a partition's chg
// stream (changes trimmed before this node read them) the partition is re-read whole: every cached state, and
// the watched classes' members afresh, all pushed as changed. Read-only: nothing here writes Redis.
import type { EventEmitter } from 'node:events';
import { memberOfKey, relationOf } from '../aggregate.js';
import { MemoryDeadLetterStore } from '../deadletter/memory-deadletter.js';
import { MemoryInputLog } from '../log/memory-log.js';
import { partitionStoreName } from '../partition.js';
import type { CompiledPipeline, CompiledReducer, StateStore } from '../types.js';
import type { PartitionChanges } from './change-feed.js';
import { newCounters } from './context.js';
import { PartitionTask } from './partition-task.js';
import { PartitionedQuery } from './partitioned-query.js';
import type { Queries } from './query-side.js';
import type { BatchInfo } from './types.js';

export class RemoteQuery {
  /** Per partition, a task that is never started: only its cache, levels (reducers, clock) and query side are used. */
  readonly tasks: PartitionTask[];
  readonly query: Queries;
  /** `${aggregation}\0${group}` asked for by a teacher: their changed keys are re-read. Never shrinks (as the process's working set). */
  private readonly watched = new Set<string>();
  private seq = 0;
  /** Partitions re-read whole after a gap in their chg stream. */
  resnapshots = 0;

  constructor(
    pipeline: CompiledPipeline,
    store: StateStore,
    /** Emits 'batch' for the hub and student feed. */
    private readonly events: EventEmitter,
  ) {
    const count = pipeline.partitions?.count ?? 1;
    const counters = newCounters();
    const unknown = new Set<string>();
    this.tasks = Array.from({ length: count }, (_, n) => {
      const ctx = { pipeline, store, storeName: partitionStoreName(pipeline.name, n, count), ...(count > 1 ? { partition: n } : {}), log: new MemoryInputLog(), deadLetters: new MemoryDeadLetterStore(), events, counters };
      return new PartitionTask(ctx, unknown, { batchSize: 1, retryMs: 100, applied: () => {} });
    });
    this.query = count === 1 ? this.tasks[0].query : new PartitionedQuery(this.tasks, unknown);
  }

  /** Partitions' clocks as committed (read at open): a view's `idle`/`wpm` equal the workers'. */
  setClocks(clocks: number[]): void {
    clocks.forEach((c, n) => (this.tasks[n].stage.now = Math.max(this.tasks[n].stage.now, c)));
  }

  ensureLoaded(aggregation: string, group: string): Promise<void> {
    // Watched before the read: a commit landing meanwhile is re-read by the next round.
    this.watched.add(`${aggregation}\0${group}`);
    return this.query.ensureLoaded(aggregation, group);
  }

  /** One ChangeFeed round: re-read the watched changed keys (one read per partition, all at once), then tell the hub. */
  async apply(round: Map<number, PartitionChanges>): Promise<void> {
    await Promise.all([...round].map(([n, p]) => this.tasks[n].consumer.exclusive(() => (p.gap ? this.resnapshot(n, p) : this.reload(n, p)))));
    for (const [n, p] of round) {
      const task = this.tasks[n];
      const changedGroups = task.query.changedGroups(p.changes);
      const info: BatchInfo = { from: p.to, to: p.to, events: 0, ms: 0, changed: p.changes, changedGroups };
      if (this.tasks.length > 1) info.partition = n;
      this.events.emit('batch', info);
    }
  }

  private async reload(n: number, p: PartitionChanges): Promise<void> {
    const task = this.tasks[n];
    const byName = task.stage.byName;
    const pipeline = task.ctx.pipeline;
    const toLoad: Array<{ r: CompiledReducer; key: string }> = [];
    for (const [name, keys] of p.changes) {
      const r = byName.get(name);
      const states = task.states.cache.get(name);
      if (!r || !states) continue;
      for (const key of keys) if (states.has(key) || this.isWatched(pipeline, r, key)) toLoad.push({ r, key });
    }
    if (toLoad.length) {
      const refs = toLoad.map(({ r, key }) => ({ pipeline: task.ctx.storeName, reducer: r.name, version: r.version, key }));
      const loaded = await task.ctx.store.load(refs);
      const t = ++this.seq;
      toLoad.forEach(({ r, key }, i) => {
        if (loaded[i] === undefined) return;
        task.states.cache.get(r.name)?.set(key, { s: loaded[i], t });
        task.states.indexMember(r, key);
      });
    }
    if (p.clock > task.stage.now) task.stage.now = p.clock;
  }

  /**
   * The changes between what this node read and the stream's oldest entry are gone: read again every state
   * the partition's cache holds (dropping those the store no longer has, e.g. erased), then load the watched
   * classes as a first ask would (members and documents new since), and count all of it as changed.
   */
  private async resnapshot(n: number, p: PartitionChanges): Promise<void> {
    this.resnapshots++;
    const task = this.tasks[n];
    const { cache } = task.states;
    const toLoad: Array<{ r: CompiledReducer; key: string }> = [];
    for (const r of task.ctx.pipeline.reducers) for (const key of cache.get(r.name)?.keys() ?? []) toLoad.push({ r, key });
    const loaded = await task.ctx.store.load(toLoad.map(({ r, key }) => ({ pipeline: task.ctx.storeName, reducer: r.name, version: r.version, key })));
    const t = ++this.seq;
    toLoad.forEach(({ r, key }, i) => {
      const states = cache.get(r.name);
      if (!states) return;
      if (loaded[i] === undefined) states.delete(key);
      else states.set(key, { s: loaded[i], t });
    });
    // "Read and found absent" markers are stale too: a student with nothing stored before may have states now.
    task.states.forgetWarmed();
    for (const w of this.watched) {
      const [aggregation, group] = w.split('\0');
      await task.states.warm(aggregation, group, task.stage.byName);
    }
    for (const r of task.ctx.pipeline.reducers) {
      const keys = cache.get(r.name);
      if (!keys?.size) continue;
      let set = p.changes.get(r.name);
      if (!set) p.changes.set(r.name, (set = new Set()));
      for (const key of keys.keys()) set.add(key);
    }
    if (p.clock > task.stage.now) task.stage.now = p.clock;
  }

  /** Whether a changed key belongs to a class some teacher watches (its member's group, or the group itself). */
  private isWatched(pipeline: CompiledPipeline, r: CompiledReducer, key: string): boolean {
    for (const agg of pipeline.aggregations.values()) {
      const rel = relationOf(r, agg);
      if (rel.kind === 'none') continue;
      const group = rel.kind === 'group' ? key : agg.groupBy.lookup?.roster.groupOf(memberOfKey(rel, key)!);
      if (group !== undefined && this.watched.has(`${agg.name}\0${group}`)) return true;
    }
    return false;
  }
}
