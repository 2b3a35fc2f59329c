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
});
