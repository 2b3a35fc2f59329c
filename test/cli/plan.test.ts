import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compilePipeline, compilePipelineFile } from '../../engine/compiler.js';
import { planChanges } from '../../engine/plan.js';
import { readFileSync } from 'node:fs';

const demo = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');
const edit = join(import.meta.dirname, '../../pipelines/examples/writing-observer.idle-2m.yaml');

describe('loflow plan', () => {
  it('classifies the idle-threshold edit as state-breaking and the new column as stateless', async () => {
    const a = (await compilePipelineFile(demo)).pipeline!;
    const b = (await compilePipelineFile(edit)).pipeline!;
    expect(planChanges(a, b)).toEqual([
      { kind: 'state-breaking', path: 'reducers.time_on_task', what: "'time_on_task' changed (params): its state must be rebuilt from the archive or reset", dashboards: ['overview'] },
      { kind: 'stateless', path: 'aggregations.class_overview', what: 'aggregations.class_overview changed', dashboards: ['overview'] },
    ]);
  });
  it('sees added and removed reducers as state-compatible, and no change as none', async () => {
    const text = readFileSync(demo, 'utf8');
    const a = (await compilePipelineFile(demo)).pipeline!;
    expect(planChanges(a, a)).toEqual([]);
    const added = (await compilePipeline(text.replace('reducers:\n', 'reducers:\n  docs: { from: [extension], key: student, op: distinct, params: { field: $.doc_id } }\n'), demo)).pipeline!;
    expect(planChanges(a, added)).toEqual([{ kind: 'state-compatible', path: 'reducers.docs', what: "new reducer 'docs' (distinct): starts empty", dashboards: [] }]);
    expect(planChanges(added, a)[0]).toMatchObject({ kind: 'state-compatible', what: "reducer 'docs' removed: its state becomes stale (loflow state drop)" });
  });
  it('flags the readers of a changed reducer’s stream, by their versions, and nothing for a stateless upstream edit', async () => {
    const text = readFileSync(demo, 'utf8');
    const a = (await compilePipelineFile(demo)).pipeline!;
    const at = async (t: string) => (await compilePipeline(t, demo)).pipeline!;
    const gap = await at(text.replace('params: { gap: 2s }', 'params: { gap: 3s }'));
    const changes = planChanges(a, gap);
    expect(changes.map((c) => [c.kind, c.path])).toEqual([
      ['state-breaking', 'reducers.bursts'],
      ['state-breaking', 'reducers.burst_stats'],
    ]);
    expect(changes[1].what).toBe("'burst_stats' reads 'burst', emitted by changed 'bursts': its state mixes old and new input, rebuild or reset it too");
    // Plan's verdict is the versions': exactly the reducers whose version moved are state-breaking.
    const moved = gap.reducers.filter((r) => a.reducers.find((x) => x.name === r.name)!.version !== r.version).map((r) => `reducers.${r.name}`);
    expect(changes.filter((c) => c.kind === 'state-breaking').map((c) => c.path)).toEqual(moved);

    // `bursts` rewritten in another YAML form and its stream no longer archived: stateless, no version moves.
    const restyled = await at(text.replace('params: { gap: 2s }', 'params:\n      gap: 2s').replace('derived: [burst]', 'derived: []'));
    expect(restyled.reducers.map((r) => r.version)).toEqual(a.reducers.map((r) => r.version));
    expect(planChanges(a, restyled)).toEqual([{ kind: 'stateless', path: 'archive.derived', what: 'archive.derived changed', dashboards: [] }]);

    // A new producer of `burst`: the new reducer is state-compatible, but `burst_stats` now folds more input.
    const more = await at(text.replace('reducers:\n', 'reducers:\n  more: { from: [batch], key: student, op: session_window, params: { gap: 1s }, emit: burst }\n'));
    expect(planChanges(a, more).map((c) => [c.kind, c.what])).toEqual([
      ['state-compatible', "new reducer 'more' (session_window): starts empty"],
      ['state-breaking', "'burst_stats' reads 'burst', now also emitted by new 'more': its state lacks that input, rebuild or reset it too"],
    ]);
    expect(planChanges(more, a).map((c) => [c.kind, c.what])).toEqual([
      ['state-breaking', "'burst_stats' reads 'burst', no longer emitted by removed 'more': its state holds that input, rebuild or reset it too"],
      ['state-compatible', "reducer 'more' removed: its state becomes stale (loflow state drop)"],
    ]);
  });
});
