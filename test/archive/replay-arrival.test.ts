// Replay of an archive gives each event the arrival time the archive kept: a reducer timed by arrival (events
// without `ts`) gets the live run's states, and the result CID does not depend on when the replay runs.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { cli, tmp } from './helpers.js';

const pipelineText = `pipeline: arrivals
sources:
  batch: { kind: http, path: /v1/events, schema: lo-event }
keys:
  student: $.auth.user_id
reducers:
  active: { from: [batch], key: student, op: time_on_task, params: { idle_after: 5m } }
archive: { raw: true }
`;

describe('replay keeps archived arrival times', () => {
  it('replays events without an event time to the live states, with the same result CID each time', async () => {
    const dir = tmp('loflow-replay-arrival-');
    const file = join(dir, 'arrivals.yaml');
    writeFileSync(file, pipelineText);
    const { pipeline } = await compilePipelineFile(file);
    const archiveDir = join(dir, 'archive');
    const writer = await ArchiveWriter.open(archiveDir, { name: pipeline!.name, text: pipeline!.text, sources: pipeline!.sources.keys() });
    const live = new Engine(pipeline!, { archive: writer });
    // Keystrokes with no `ts`, arriving 1, 2, 4 and 5 minutes in: 1 + 2 + 1 minutes of activity per student.
    for (const at of [60_000, 120_000, 240_000, 300_000]) {
      await live.ingest('batch', ['s1', 's2'].map((u) => ({ event: 'keystroke', auth: { user_id: u } })), at);
      await live.flush();
    }
    const liveResult = live.results();
    await live.stop();
    const head = (await writer.store.head())!.toString();

    const first = await cli(['replay', file, head, '--archive', archiveDir, '--no-log']);
    expect(first.code).toBe(0);
    await new Promise((r) => setTimeout(r, 50)); // a later wall clock must not matter
    const second = await cli(['replay', file, head, '--archive', archiveDir, '--no-log']);
    const a = JSON.parse(first.stdout);
    const b = JSON.parse(second.stdout);
    expect(a.result_cid).toBe(b.result_cid);
    const { result_cid: _, ...states } = a;
    expect(states).toEqual(JSON.parse(JSON.stringify(liveResult)));
    expect(JSON.stringify(states)).toContain('"active_ms":240000');
  });
});
