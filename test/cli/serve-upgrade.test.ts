// `serve` against a Redis state store after a state-breaking edit (of `time_on_task`, and of `bursts`, whose
// stream `burst_stats` reads): refused with the plan (nothing changed), then --rebuild (recomputed from the
// archive, equal to a fresh replay) and --reset (started empty).
import { describe, expect, inject, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import type { Json, StateStore } from '../../engine/types.js';
import { bin, root, run } from './run-cli.js';



async function snapshot(store: StateStore, pipeline: string): Promise<Record<string, Json>> {
  const out: Record<string, Json> = {};
  for await (const [ref, state] of store.scan(pipeline)) out[`${ref.reducer}/${ref.version}/${ref.key}`] = state;
  return out;
}

/** A serve child: resolves its URL once live, or its exit code and output if it refuses to start. */
function serve(args: string[]) {
  const child = spawn('node', [bin, 'serve', ...args, '--port', '0', '--demo-tokens', '--demo'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = new Promise<string | null>((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    exited.then(() => resolve(null));
  });
  return { child, url, exited, out: () => out, err: () => err };
}

describe('serve refuses a state-breaking edit unless --rebuild or --reset', () => {
  it('refuses, rebuilds from the archive, resets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-upgrade-'));
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `up${Date.now()}`;
    const v1 = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
    writeFileSync(join(dir, 'v1.yaml'), v1);
    writeFileSync(join(dir, 'v2.yaml'), v1.replace('idle_after: 5m', 'idle_after: 2m').replace('params: { gap: 2s }', 'params: { gap: 3s }'));
    const events = join(dir, 'e.ndjson');
    expect((await run('generate', '--events', '3000', '--students', '20', '--seed', '7', '--out', events)).code).toBe(0);
    const common = ['--state', inject('redisUrl'), '--data', join(dir, 'data')];

    // v1 live: ingest everything, stop (drains, commits state and the archive).
    const s1 = serve([join(dir, 'v1.yaml'), ...common]);
    const url1 = (await s1.url)!;
    expect(url1, s1.err()).toBeTruthy();
    const body = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.stringify(JSON.parse(l).event)).join('\n');
    expect((await fetch(`${url1}/v1/events`, { method: 'POST', body })).status).toBe(200);
    s1.child.kill('SIGTERM');
    expect(await s1.exited).toBe(0);

    // v2: refused, with the field-level plan and the store's view, and nothing touched.
    const before = (await run('state', 'ls', join(dir, 'v2.yaml'), '--state', inject('redisUrl'))).stdout;
    const refused = serve([join(dir, 'v2.yaml'), ...common]);
    expect(await refused.url).toBeNull();
    expect(await refused.exited).toBe(3);
    expect(refused.err()).toMatch(/refusing to start/);
    expect(refused.err()).toMatch(/state-breaking +'time_on_task' changed \(params\)/);
    expect(refused.err()).toMatch(/'time_on_task': the store holds 20 keys of version \w+, this pipeline computes version \w+ {2}\[dashboards: overview\]/);
    expect(refused.err()).toMatch(/'burst_stats': the store holds \d+ keys of version \w+, this pipeline computes version \w+ \(they were built from 'burst' as changed 'bursts' emitted it before\)/);
    expect(refused.err()).toMatch(/--rebuild .* --reset/);
    expect((await run('state', 'ls', join(dir, 'v2.yaml'), '--state', inject('redisUrl'))).stdout).toBe(before);
    expect(before).toMatch(/^time_on_task .* stale \(definition changed\)$/m);
    expect(before).toMatch(/^burst_stats .* stale \(definition or upstream changed: 'bursts' stale too\)$/m);

    // --rebuild: time_on_task recomputed from the archive equals a replay of v2 over the same events;
    // the unchanged reducers keep their state.
    const s2 = serve([join(dir, 'v2.yaml'), ...common, '--rebuild']);
    const url2 = await s2.url;
    expect(url2, s2.err()).toBeTruthy();
    const rebuilt = /rebuilt burst_stats \((\d+) keys\), bursts \((\d+) keys\), time_on_task \(20 keys\) from 3000 archived events; dropped (\d+) old states/.exec(s2.out());
    expect(rebuilt, s2.out()).toBeTruthy();
    // Every stale key the refusal counted is dropped (a gap of 3 s closes fewer bursts: the counts differ).
    const stale = [...refused.err().matchAll(/the store holds (\d+) keys/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(Number(rebuilt![3])).toBe(stale);
    s2.child.kill('SIGTERM');
    expect(await s2.exited, s2.err()).toBe(0);
    // After the cut-over the whole store (rebuilt and kept reducers) equals a fresh run of v2.
    const { pipeline: p2 } = await compilePipelineFile(join(dir, 'v2.yaml'));
    const fresh = new MemoryStateStore();
    const engine = new Engine(p2!, { store: fresh });
    await engine.ingest('batch', body.split('\n').map((l) => JSON.parse(l)));
    await engine.flush();
    const redis = await RedisStateStore.connect(inject('redisUrl'));
    const [got, want] = [await snapshot(redis, name), await snapshot(fresh, name)];
    await redis.close();
    expect(Object.keys(want).filter((k) => k.startsWith('time_on_task/')).length).toBe(20);
    expect(Object.keys(want).filter((k) => k.startsWith('burst_stats/')).length).toBe(Number(rebuilt![1]));
    expect(got).toEqual(want);
    const after = (await run('state', 'ls', join(dir, 'v2.yaml'), '--state', inject('redisUrl'))).stdout;
    expect(after).not.toMatch(/stale/);
    expect(after).toMatch(/^time_on_task +\w+ +20 keys .* current$/m);

    // Back to v1: refused again (the store now holds v2's version); --reset starts time_on_task empty.
    expect(await serve([join(dir, 'v1.yaml'), ...common]).exited).toBe(3);
    const s3 = serve([join(dir, 'v1.yaml'), ...common, '--reset']);
    expect(await s3.url, s3.err()).toBeTruthy();
    expect(s3.out()).toMatch(/reset: dropped 20 states of 'time_on_task' version \w+; it starts empty/);
    expect(s3.out()).toMatch(/reset: dropped \d+ states of 'burst_stats' version \w+; it starts empty/);
    s3.child.kill('SIGTERM');
    expect(await s3.exited).toBe(0);
    const reset = (await run('state', 'ls', join(dir, 'v1.yaml'), '--state', inject('redisUrl'))).stdout;
    expect(reset).not.toMatch(/^(time_on_task|bursts|burst_stats) /m);
    expect(reset).toMatch(/^events +\w+ +20 keys .* current$/m);
  }, 240_000); // six serve starts and four CLI runs: minutes on 2 busy cores

  it('refuses to rebuild from an archive that misses committed events, and changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-upgrade-'));
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `nr${Date.now()}`;
    const v1 = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`);
    // No archive section: the events are committed to state but archived nowhere.
    writeFileSync(join(dir, 'v1.yaml'), v1.slice(0, v1.indexOf('archive:')));
    writeFileSync(join(dir, 'v2.yaml'), v1.replace('idle_after: 5m', 'idle_after: 2m'));
    const common = ['--state', inject('redisUrl'), '--data', join(dir, 'data')];
    const s1 = serve([join(dir, 'v1.yaml'), ...common]);
    const url1 = (await s1.url)!;
    const ev = (u: string, ts: number) => ({ event: 'keystroke', ts, auth: { user_id: u } });
    expect((await fetch(`${url1}/v1/events`, { method: 'POST', body: JSON.stringify([ev('s-0000', 1), ev('s-0001', 2)]) })).status).toBe(200);
    s1.child.kill('SIGTERM');
    expect(await s1.exited).toBe(0);
    const s2 = serve([join(dir, 'v2.yaml'), ...common, '--rebuild']);
    expect(await s2.exited).toBe(1);
    expect(s2.err()).toMatch(/cannot rebuild: no archive commit in .*nothing to rebuild from/);
    expect((await run('state', 'ls', join(dir, 'v2.yaml'), '--state', inject('redisUrl'))).stdout).toMatch(/^time_on_task .* 2 keys .* stale \(definition changed\)$/m);
  });
});
