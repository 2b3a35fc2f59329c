import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline } from '../../engine/compiler.js';
import { verifyCar } from '../../archive/car.js';
import { openArchive } from '../../archive/replay-source.js';
import { archivedRun, cli, demoFile, replay, root } from './helpers.js';

const KEY = 'a-study-secret-0123456789abcdef';
const hmac = (id: string) => createHmac('sha256', KEY).update(id).digest('hex');

/** Replace every known identifier in a result (keys and values; composite keys part by part). */
function pseudonymizeResult(v: unknown, ids: Set<string>): unknown {
  const s = (x: string) => x.split('|').map((p) => (ids.has(p) ? hmac(p) : p)).join('|');
  if (typeof v === 'string') return s(v);
  if (Array.isArray(v)) return v.map((x) => pseudonymizeResult(x, ids));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [s(k), pseudonymizeResult(x, ids)]));
  return v;
}

/** The demo pipeline over a roster whose student column holds the pseudonyms (what a study is given). */
async function pseudonymousPipeline(dir: string) {
  const [header, ...rows] = readFileSync(join(root, 'pipelines/rosters/demo.csv'), 'utf8').trim().split('\n');
  writeFileSync(join(dir, 'roster.csv'), [header, ...rows.map((r) => [hmac(r.split(',')[0]), ...r.split(',').slice(1)].join(','))].join('\n') + '\n');
  const text = readFileSync(demoFile, 'utf8').replace('rosters/demo.csv', 'roster.csv');
  const { pipeline, errors } = await compilePipeline(text, join(dir, 'study.yaml'));
  if (!pipeline) throw new Error(errors.map((e) => e.message).join('\n'));
  return pipeline;
}

describe('pseudonymized export', () => {
  it('replays to the same aggregates as the original, keyed by HMAC-SHA256 pseudonyms; the key and ids are not in it', async () => {
    const run = await archivedRun({ batches: 6 });
    const out = join(run.dir, '..', 'study.car');
    const r = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--id-field', 'auth.user_id', '--id-field', '$.doc_id', '--id-field', '$.object.id', '--drop-field', 'url', '--drop-field', 'bundles[*].sid', '--drop-field', 'object.url', '--out', out], {
      env: { LOFLOW_PSEUDONYM_KEY: KEY },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('pseudonymized $.auth.user_id, $.doc_id, $.object.id; dropped $.url, $.bundles[*].sid, $.object.url');
    expect((await verifyCar(out)).ok).toBe(true);

    const bytes = readFileSync(out);
    expect(bytes.includes(Buffer.from(KEY))).toBe(false);
    expect(bytes.includes(Buffer.from('s-0'))).toBe(false); // no student id, nor a doc, session id or URL made of one
    expect(bytes.includes(Buffer.from('docs.google.com'))).toBe(false);

    const students = new Set(run.sent.map((s) => (s.event as any).auth.user_id as string));
    const roster = readFileSync(join(root, 'pipelines/rosters/demo.csv'), 'utf8').trim().split('\n').slice(1).map((r) => r.split(',')[0]);
    const docs = new Set(run.sent.map((s) => (s.event as any).doc_id as string));
    const study = await replay(out, await pseudonymousPipeline(join(run.dir, '..')));
    expect(study.archive.commit.filter).toMatchObject({ pseudonymized: ['$.auth.user_id', '$.doc_id', '$.object.id'], dropped: ['$.url', '$.bundles[*].sid', '$.object.url'] });
    expect(study.results).toEqual(pseudonymizeResult(run.live, new Set([...roster, ...docs])));
    // The aggregates per class are the live ones (classes are not identifiers).
    const live = run.live.aggregations.class_overview as Record<string, { summary: unknown }>;
    const replayed = study.results.aggregations.class_overview as Record<string, { summary: unknown }>;
    for (const c of Object.keys(live)) expect(replayed[c].summary).toEqual(live[c].summary);

    // The per-learner index is keyed by the pseudonyms.
    const [first] = [...students];
    const one = await cli(['archive', 'learner', hmac(first), out, '--stream', 'extension']);
    expect(one.code, one.stderr).toBe(0);
    const lines = one.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(run.sent.filter((s) => s.stream === 'extension' && (s.event as any).auth.user_id === first).length);
    expect(lines.every((l) => l.event.auth.user_id === hmac(first) && l.event.url === undefined)).toBe(true);
  });

  it('by default pseudonymizes the pipeline\'s identifiers and learner key fields (all of the demo\'s ids)', async () => {
    const run = await archivedRun({ batches: 2 });
    const out = join(run.dir, '..', 'default.car');
    const r = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--out', out], { env: { LOFLOW_PSEUDONYM_KEY: KEY } });
    expect(r.code, r.stderr).toBe(0);
    const a = await openArchive(out);
    expect(a.commit.filter!.pseudonymized).toEqual(['$.auth.user_id', '$.auth.safe_user_id', '$.auth.email', '$.doc_id', '$.url', '$.title', '$.bundles[*].sid', '$.object.id', '$.object.url', '$.object.title', '$.history.changelog[*][2]', '$.history.changelog[*][4]']);
    expect(readFileSync(out).includes(Buffer.from('s-0'))).toBe(false); // no student id left anywhere (doc ids, URLs, session ids)
    const ids = new Set<string>();
    for await (const e of a.events()) ids.add((e.event as any).auth.user_id);
    const originals = new Set(run.sent.map((s) => (s.event as any).auth.user_id as string));
    expect([...ids].sort()).toEqual([...originals].map(hmac).sort());
  });

  it('refuses to pseudonymize without LOFLOW_PSEUDONYM_KEY (or with a short one) and writes nothing', async () => {
    const run = await archivedRun({ batches: 1 });
    const out = join(run.dir, '..', 'nokey.car');
    const r = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--out', out], { env: { LOFLOW_PSEUDONYM_KEY: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs a secret key in the environment variable LOFLOW_PSEUDONYM_KEY/);
    const short = await cli(['archive', 'export', '--dir', run.dir, '--pseudonymize', '--out', out], { env: { LOFLOW_PSEUDONYM_KEY: 'short' } });
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/too short/);
    expect(existsSync(out)).toBe(false);
  });
});
