// Runs the real binary (bin/loflow.js -> dist/, built by `npm test` before vitest starts).
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, run } from './run-cli.js';


describe('loflow CLI', () => {
  it('validate: exit 0 and a summary for the demo pipeline', async () => {
    const r = await run('validate', 'pipelines/writing-observer.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok pipelines\/writing-observer\.yaml: pipeline 'writing-observer', 2 sources, 6 reducers/);
  });

  it('validate: exit 1 and every error as file:line:col', async () => {
    const r = await run('validate', 'test/fixtures/pipelines/broken.yaml');
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/broken\.yaml:7:50: unknown operator 'sesion_window' \(at reducers\.bursts\.op\); did you mean 'session_window'\?$/),
      expect.stringMatching(/broken\.yaml:8:38: unknown key 'studnt' \(at reducers\.burst_stats\.key\); did you mean 'student'\?$/),
      expect.stringMatching(/broken\.yaml:9:\d+: cycle: loop_a -> loop_b -> loop_a/),
      'test/fixtures/pipelines/broken.yaml: 3 errors',
    ]);
  });

  it('a partitioned pipeline with an exchange edge validates, and replays on the memory store to the results of P = 1', async () => {
    const v = await run('validate', 'test/fixtures/pipelines/partitioned-exchange.yaml');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/ok test\/fixtures\/pipelines\/partitioned-exchange\.yaml: .*4 partitions by student/);
    const dir = mkdtempSync(join(tmpdir(), 'loflow-cli-'));
    const events = join(dir, 'events.ndjson');
    expect((await run('generate', '--events', '3000', '--seed', '3', '--out', events)).code).toBe(0);
    const single = join(dir, 'single.yaml');
    writeFileSync(single, readFileSync('test/fixtures/pipelines/partitioned-exchange.yaml', 'utf8').replace(/^partitions: .*$/m, '').replace('../../../pipelines/rosters/demo.csv', join(process.cwd(), 'pipelines/rosters/demo.csv')));
    const results = [];
    for (const [file, out] of [['test/fixtures/pipelines/partitioned-exchange.yaml', join(dir, 'p4.json')], [single, join(dir, 'p1.json')]]) {
      const r = await run('replay', file, events, '--out', out, '--no-log');
      expect(r.code, r.stderr).toBe(0);
      results.push(JSON.parse(readFileSync(out, 'utf8')));
    }
    // class_events (count, raw events re-keyed) exactly; class_bursts (stats over re-keyed bursts) by count and sum.
    const counts = (res: { reducers: Record<string, Record<string, { n: number; sum: number }>> }) => Object.fromEntries(Object.entries(res.reducers.class_bursts ?? {}).map(([k, s]) => [k, [s.n, s.sum]]));
    expect(Object.keys(results[1].reducers.class_events).length).toBeGreaterThan(1);
    expect(results[0].reducers.class_events).toEqual(results[1].reducers.class_events);
    expect(Object.keys(counts(results[1])).length).toBeGreaterThan(0);
    expect(counts(results[0])).toEqual(counts(results[1]));
  });

  it('replay: final states and aggregations as JSON, and the rate on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-cli-'));
    const events = join(dir, 'events.ndjson');
    expect((await run('generate', '--events', '5000', '--seed', '3', '--out', events)).code).toBe(0);
    const out = join(dir, 'result.json');
    const r = await run('replay', 'pipelines/writing-observer.yaml', events, '--out', out, '--no-log');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/replayed 5,000 events in [\d.]+ s: [\d,]+ events\/s \(0 rejected by schema, 0 not JSON, 0 reducer failures/);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    const counts = Object.values(result.reducers.events as Record<string, number>);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(Object.keys(result.aggregations.class_overview)).toEqual(['class-a', 'class-b', 'class-c', 'class-d']);
    expect(result.aggregations.class_overview['class-a'].summary.students).toBe(50);
    // Same input, same output.
    const again = await run('replay', 'pipelines/writing-observer.yaml', events, '--no-log');
    expect(JSON.parse(again.stdout)).toEqual(result);
  });

  it('replay: a pipeline on 4 partitions gives the output of the same pipeline on one; a Redis store is refused until step 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-cli-'));
    const events = join(dir, 'events.ndjson');
    expect((await run('generate', '--events', '3000', '--seed', '8', '--out', events)).code).toBe(0);
    const fixture = join(root, 'test/fixtures/pipelines/partitioned.yaml');
    const single = join(dir, 'single.yaml');
    const text = readFileSync(fixture, 'utf8').replace('../../../pipelines/rosters/demo.csv', join(root, 'pipelines/rosters/demo.csv'));
    writeFileSync(single, text.replace(/^partitions: .*\n/m, ''));
    expect((await run('validate', fixture)).stdout).toMatch(/^ok .*partitioned\.yaml: pipeline 'partitioned', 1 sources, 4 reducers, 1 derived streams, 1 aggregations, 0 dashboards, 4 partitions by student$/m);
    const four = await run('replay', fixture, events, '--no-log');
    const one = await run('replay', single, events, '--no-log');
    expect([four.code, one.code]).toEqual([0, 0]);
    const result = JSON.parse(four.stdout);
    expect(Object.values(result.reducers.events as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(3000);
    expect(result).toEqual(JSON.parse(one.stdout));
    const redis = await run('replay', fixture, events, '--no-log', '--state', inject('redisUrl'));
    expect(redis.code).toBe(2);
    expect(redis.stderr).toMatch(/^loflow replay: 'partitioned' has partitions.count 4: keeping partitioned states in a redis store needs the partition record of step 3 of docs\/scale-out.md §14 \(not built yet\)/);
  });

  it('replay: reports lines that are not JSON or fail the schema, and keeps going', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-cli-'));
    const file = join(dir, 'mixed.ndjson');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, ['{"event":"keystroke","auth":{"user_id":"s-0001"},"ts":1}', 'not json', '{"no_event":1}', '{"event":"keystroke","auth":{"user_id":"s-0001"},"ts":2}'].join('\n'));
    const r = await run('replay', 'pipelines/writing-observer.yaml', file, '--summary', '--no-log');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ events: 2, rejected: 1, notJson: 1 });
    expect(r.stderr).toMatch(/line 2: not JSON/);
    expect(r.stderr).toMatch(/must have 'event'/);
  });

  it('every command has --help', async () => {
    const top = await run('--help');
    expect(top.code).toBe(0);
    const names = [...top.stdout.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
    expect(names).toEqual(expect.arrayContaining(['demo', 'validate', 'replay', 'generate']));
    for (const name of names) {
      const r = await run(name, '--help');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`loflow ${name}|npm start`));
    }
    // One process per command (18 of them), each a cold Node start: seconds apiece on a loaded machine.
  }, 240_000);
});
