// `serve --watch` as a real process: edits of the pipeline file are applied live when they keep state
// (an open SSE dashboard connection sees the new column, counts go on), refused with the plan when they
// would break state or do not compile (the running version goes on).
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { sseMessages, until, watchedServe } from './watch-fixture.js';

describe('serve --watch', () => {
  it('applies safe edits live and refuses state-breaking and broken ones', async () => {
    const w = await watchedServe('loflow-watch-');
    const { file, child, exited, url } = w;
    const v1 = readFileSync(file, 'utf8');
    const abort = new AbortController();
    try {
      const auth = { authorization: 'Bearer demo-t-ada' };
      let ts = 1_000_000;
      // Each batch starts 3 s after the last: the pause closes a typing burst, so burst columns fill in.
      const send = (n: number) =>
        fetch(`${url}/v1/events`, { method: 'POST', body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ event: 'keystroke', ts: (ts += i === 0 ? 3000 : 100), auth: { user_id: 's-0000' }, doc_id: 'd1', keystroke: { type: 'keydown', key: 'a' } }))) });
      const row = async () => (await (await fetch(`${url}/v1/dashboards/overview/class-a`, { headers: auth })).json()).rows.find((r: any) => r.member === 's-0000');

      // A dashboard connection that must survive every reload.
      const messages = await sseMessages(`${url}/v1/dashboards/overview/class-a/events`, auth, abort.signal);
      await until(() => messages.length > 0);
      expect((await send(10)).status).toBe(200);
      await until(async () => (await row())?.events === 10 || undefined);
      await until(() => messages.some((m) => m.type === 'delta'));

      // 1. Stateless: a new column. Applied; the open connection gets rows with it; the count is kept.
      writeFileSync(file, v1.replace('      mean_burst: burst_stats.mean\n', '      mean_burst: burst_stats.mean\n      longest_burst: burst_stats.max\n'));
      await until(() => w.out().includes('watch: applied live (1 change;'));
      expect(w.out()).toMatch(/^ {2}stateless +aggregations\.class_overview changed {2}\[dashboards: overview\]$/m);
      expect((await send(10)).status).toBe(200);
      let r = await until(async () => {
        const x = await row();
        return x?.events === 20 ? x : undefined;
      });
      await until(() => messages.some((m) => m.type === 'delta' && m.rows.some((x: any) => x.member === 's-0000' && 'longest_burst' in x)));

      // 2. State-compatible: a new reducer and its column. Applied; it starts empty, the others go on.
      const v3 = readFileSync(file, 'utf8')
        .replace('reducers:\n', 'reducers:\n  docs: { from: [extension, batch], key: student, op: distinct, params: { field: $.doc_id } }\n')
        .replace('      longest_burst: burst_stats.max\n', '      longest_burst: burst_stats.max\n      docs: docs.count\n');
      writeFileSync(file, v3);
      await until(() => w.out().includes('watch: applied live (2 changes;'));
      expect(w.out()).toMatch(/state-compatible +new reducer 'docs' \(distinct\): starts empty/);
      expect((await send(5)).status).toBe(200);
      r = await until(async () => {
        const x = await row();
        return x?.events === 25 ? x : undefined;
      });
      expect(r.docs).toBe(1);

      // 3. State-breaking: refused with the plan; the running version goes on counting.
      writeFileSync(file, v3.replace('idle_after: 5m', 'idle_after: 2m'));
      await until(() => w.out().includes('watch: refused: a state-breaking edit; the running version is kept'));
      expect(w.out()).toMatch(/state-breaking +'time_on_task' changed \(params\): its state must be rebuilt from the archive or reset/);
      expect(w.out()).toMatch(/restart with --rebuild .* or --reset/);
      // An archive section removed: the archive is set up at start, so it needs a restart.
      writeFileSync(file, v3.slice(0, v3.indexOf('archive:')));
      await until(() => w.out().includes('watch: refused: archive removed: needs a restart; the running version is kept'));
      // 4. Not compiling: refused with the errors.
      writeFileSync(file, v3.replace('op: count', 'op: cuont'));
      await until(() => w.out().includes('does not compile; the running version is kept'));
      expect(w.out()).toMatch(/p\.yaml:\d+:\d+: unknown operator 'cuont'/);
      expect((await send(5)).status).toBe(200);
      await until(async () => (await row())?.events === 30 || undefined);

      // The first connection is still the one we opened: one snapshot, deltas since.
      expect(messages.filter((m) => m.type === 'snapshot')).toHaveLength(1);
    } finally {
      abort.abort();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
