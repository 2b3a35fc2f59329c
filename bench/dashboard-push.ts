// The CPU cost of one dashboard push, per row: what a hub tick spends on each class it refreshes (building
// the class's rows from the reducers' views, then each row's JSON). In-process and in CPU time, so it is
// steadier than the end-to-end latency workloads on a shared machine. The demo pipeline, 1,000 students in 40
// classes, each with ten minutes of the extension's events behind it (typing, Google Docs saves: texts to
// merge per student), then pushes: after every student typed once more (every row changed) and after
// nothing changed. The baseline is JSON.stringify of the same rows alone, the part no push can avoid.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Classroom, rosterCsv } from '../engine/classroom.js';
import { compilePipelineFile } from '../engine/compiler.js';
import { Engine } from '../engine/runtime.js';
import { demoFile } from './fixtures.js';
import type { Ctx } from './types.js';

const cpuNs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) * 1000;
};

export const dashboardPush = {
  name: 'dashboard-push',
  async run(ctx: Ctx) {
    const students = 1000;
    const classes = 40;
    const dir = mkdtempSync(join(ctx.dir, 'push-'));
    const csv = rosterCsv(students, classes);
    writeFileSync(join(dir, 'roster.csv'), csv);
    writeFileSync(join(dir, 'p.yaml'), readFileSync(demoFile, 'utf8').replace('rosters/demo.csv', 'roster.csv'));
    const { pipeline, errors } = await compilePipelineFile(join(dir, 'p.yaml'));
    if (!pipeline) throw new Error(errors.map((e) => e.message).join('\n'));
    const engine = new Engine(pipeline, { batchSize: 2000 });
    await engine.start();
    try {
      const groups = engine.groups('class_overview');
      const start = Date.now() - 10 * 60_000;
      const history = [...new Classroom({ students, seed: 1, start }).events(ctx.quick ? 60_000 : 300_000)].map((e) => e.event);
      for (let i = 0; i < history.length; i += 2000) await engine.ingest('extension', history.slice(i, i + 2000));
      await engine.flush();
      const ids = [...new Set(history.map((e) => (e.auth as { user_id: string }).user_id))];
      let ts = Date.now() - 1000;
      const typeOnce = async () => {
        const batch = ids.map((u) => ({ event: 'keystroke', ts: ++ts, auth: { user_id: u }, doc_id: `d-${u}`, keystroke: { type: 'keydown', key: 'a' } }));
        await engine.ingest('extension', batch);
        await engine.flush();
      };
      let sink = 0;
      // One tick that refreshes every class: rows built, each row's JSON made (as the hub does to diff and send).
      const push = () => {
        let rows = 0;
        for (const g of groups) {
          const snap = engine.aggregate('class_overview', g);
          for (const r of snap.rows) sink += JSON.stringify(r).length;
          sink += JSON.stringify(snap.summary).length;
          rows += snap.rows.length;
        }
        return rows;
      };
      const tables = groups.map((g) => engine.aggregate('class_overview', g));
      const stringifyOnly = () => {
        let rows = 0;
        for (const t of tables) {
          for (const r of t.rows) sink += JSON.stringify(r).length;
          sink += JSON.stringify(t.summary).length;
          rows += t.rows.length;
        }
        return rows;
      };
      const rounds = ctx.quick ? 20 : 100;
      const measure = async (fn: () => number, between?: () => Promise<void>) => {
        for (let i = 0; i < 10; i++) {
          await between?.();
          fn();
        }
        let ns = 0;
        let rows = 0;
        for (let i = 0; i < rounds; i++) {
          await between?.();
          const t0 = cpuNs();
          rows += fn();
          ns += cpuNs() - t0;
        }
        return ns / rows;
      };
      const floor = await measure(stringifyOnly);
      const changed = await measure(push, typeOnce);
      const unchanged = await measure(push);
      const note = `${students} students in ${classes} classes, ${history.length.toLocaleString('en')} events of history (texts merged over each student's documents); CPU time; baseline: JSON.stringify of the same rows alone`;
      ctx.figures.push({ workload: 'dashboard-push', name: 'push cost per row, every student changed since the last push', value: changed, unit: 'ns/row', baseline: floor, ratio: changed / floor, note });
      ctx.figures.push({ workload: 'dashboard-push', name: 'push cost per row, nothing changed since the last push', value: unchanged, unit: 'ns/row', baseline: floor, ratio: unchanged / floor, note });
      ctx.log(`dashboard-push: ${changed.toFixed(0)} ns/row changed, ${unchanged.toFixed(0)} unchanged, stringify alone ${floor.toFixed(0)} (${sink > 0 ? 'ok' : ''})`);
    } finally {
      await engine.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
