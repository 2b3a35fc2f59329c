// Finding 14: a pseudonymized export covers every declared identifier by default and refuses to write
// one that still carries a learner id; `archive verify` reports blocks the root does not reach.
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { CarBlockIterator, CarWriter } from '@ipld/car';
import { describe, expect, it } from 'vitest';
import { encodeBlock, CID } from '../../archive/blocks.js';
import { archivedRun, cli, replay, root } from '../archive/helpers.js';
import { compilePipeline } from '../../engine/compiler.js';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const KEY = 'a-study-secret-0123456789abcdef';
const hmac = (id: string) => createHmac('sha256', KEY).update(id).digest('hex');

describe('pseudonymized export, by default', () => {
  it('leaves no student id anywhere (doc ids, URLs, session ids) and still replays to the same class aggregates', async () => {
    const run = await archivedRun({ batches: 3 });
    const out = join(run.dir, '..', 'default.car');
    const r = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--out', out], { env: { LOFLOW_PSEUDONYM_KEY: KEY } });
    expect(r.code, r.stderr).toBe(0);
    const bytes = readFileSync(out);
    const students = new Set(run.sent.map((s) => (s.event as any).auth.user_id as string));
    for (const id of students) expect(bytes.includes(Buffer.from(id)), id).toBe(false);
    // The study's roster holds the pseudonyms; keys built from the replaced fields (student_doc) still group.
    const dir = join(run.dir, '..');
    const [header, ...rows] = readFileSync(join(root, 'pipelines/rosters/demo.csv'), 'utf8').trim().split('\n');
    writeFileSync(join(dir, 'roster.csv'), [header, ...rows.map((row) => [hmac(row.split(',')[0]), ...row.split(',').slice(1)].join(','))].join('\n') + '\n');
    const { pipeline } = await compilePipeline(run.pipeline.text.replace('rosters/demo.csv', 'roster.csv'), join(dir, 'study.yaml'));
    const study = await replay(out, pipeline!);
    const live = run.live.aggregations.class_overview as Record<string, { summary: unknown }>;
    const replayed = study.results.aggregations.class_overview as Record<string, { summary: unknown }>;
    expect(Object.keys(replayed).sort()).toEqual(Object.keys(live).sort());
    for (const c of Object.keys(live)) expect(replayed[c].summary).toEqual(live[c].summary);
    const docs = (r: Record<string, unknown>) => Object.keys(r).length;
    expect(docs(study.results.reducers.text as Record<string, unknown>)).toBe(docs(run.live.reducers.text as Record<string, unknown>));
  });

  it('refuses an export that would still contain learner ids, naming the fields; --allow-ids writes it', async () => {
    const run = await archivedRun({ batches: 2 });
    const out = join(run.dir, '..', 'leaky.car');
    const env = { LOFLOW_PSEUDONYM_KEY: KEY };
    const r = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--id-field', 'auth.user_id', '--out', out], { env });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^archive export: refused: learner ids would remain in /);
    for (const p of ['extension: $.doc_id', 'extension: $.url', 'extension: $.bundles[*].sid']) expect(r.stderr).toContain(p);
    expect(r.stderr).toContain('--allow-ids');
    expect(existsSync(out)).toBe(false);
    const ok = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--id-field', 'auth.user_id', '--allow-ids', '--out', out], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});

describe('archive verify', () => {
  it('fails on a valid block nothing links to (one line, exit 1); --allow-unreachable passes with a warning', async () => {
    const run = await archivedRun({ batches: 1 });
    const good = join(run.dir, '..', 'good.car');
    expect((await cli(['archive', 'export', '--dir', run.dir, '--out', good])).code).toBe(0);
    expect((await cli(['archive', 'verify', good])).code).toBe(0);
    // The same CAR plus one well-formed block (hash correct) that the root does not reach.
    const extra = await encodeBlock({ smuggled: 's-0000 was here' });
    const iter = await CarBlockIterator.fromIterable(createReadStream(good));
    const [rootCid] = await iter.getRoots();
    const bad = join(run.dir, '..', 'extra.car');
    const { writer, out } = CarWriter.create([rootCid]);
    const file = createWriteStream(bad);
    const piping = (async () => {
      for await (const chunk of out) file.write(chunk);
      file.end();
      await once(file, 'finish');
    })();
    for await (const b of iter) await writer.put(b);
    await writer.put({ cid: extra.cid as CID, bytes: extra.bytes });
    await writer.close();
    await piping;

    const v = await cli(['archive', 'verify', bad]);
    expect(v.code).toBe(1);
    expect(v.stderr.trim()).toBe(`FAILED ${bad}: 1 block not reachable from the root ${rootCid} (first: ${extra.cid}); pass --allow-unreachable to accept such a CAR`);
    const allowed = await cli(['archive', 'verify', bad, '--allow-unreachable']);
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toContain(`warning: ${bad}: 1 block not reachable`);
  });
});
