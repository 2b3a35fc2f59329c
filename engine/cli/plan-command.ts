import { planChanges } from '../plan.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow plan <old.yaml> <new.yaml> [--json]

Classifies each change between two versions of a pipeline:
  stateless         aggregations, dashboards, archive, sources, description: safe on a live pipeline
  state-compatible  a reducer added (starts empty) or removed (its state becomes stale)
  state-breaking    a reducer's op, params, key, from, where, map, time or emit changed, or a reducer
                    emitting a stream it reads did: its state starts fresh under a new version
                    unless rebuilt from the archive
and names the dashboards each change affects. Exit 0 when nothing is state-breaking, 3 when something is.`;

export const planCommand: Command = {
  name: 'plan',
  summary: 'classify a pipeline edit as stateless, state-compatible or state-breaking',
  usage,
  flags: ['json'],
  async run({ positionals, options }) {
    const [a, b] = positionals;
    if (!b) {
      console.error(usage);
      return 2;
    }
    const before = await loadPipeline(a);
    const after = await loadPipeline(b);
    if (!before || !after) return 1;
    const changes = planChanges(before, after);
    if (options.json) console.log(JSON.stringify(changes, null, 2));
    else if (changes.length === 0) console.log('no changes');
    else for (const c of changes) console.log(`${c.kind.padEnd(17)} ${c.what}${c.dashboards.length ? `  [dashboards: ${c.dashboards.join(', ')}]` : ''}`);
    return changes.some((c) => c.kind === 'state-breaking') ? 3 : 0;
  },
};
