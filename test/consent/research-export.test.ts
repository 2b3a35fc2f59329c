// Consent scopes (issue #16 point 4): a research export holds only consented students, pseudonymized by
// default, and is refused without a consent source; a student whose consent is withdrawn is left out of the
// next export, and `loflow consent recalls` lists the earlier research exports that included them, from the
// analysis log (which holds audit pseudonyms, never ids).
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archiveCommand } from '../../engine/cli/archive-command.js';
import { consentCommand } from '../../engine/cli/consent-command.js';
import { invoke, type Command } from '../../engine/cli/command.js';
import { listAnalyses } from '../../archive/analysis-log.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { verifyCar } from '../../archive/car.js';
import { loadConsent } from '../../archive/consent.js';
import { pseudonym } from '../../archive/pseudonymize.js';
import { carSource, readCommit, readIndex } from '../../archive/read.js';
import { archivedRun, demo, tmp, type ArchivedRun } from '../archive/helpers.js';
import { randomBytes } from 'node:crypto';
import { openWriterCrypto } from '../../archive/open-crypto.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { LoEvent } from '../../engine/types.js';

const KEY = 'research-key-of-study-42';

async function run(cmd: Command, args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await invoke(cmd, args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** The learners of a CAR's extension index. */
async function learnersOf(car: string): Promise<string[]> {
  const src = await carSource(car);
  try {
    const commit = await readCommit(src);
    return Object.keys((await readIndex(src, commit, 'extension'))!.learners).sort();
  } finally {
    await src.close();
  }
}

describe('research exports and consent', () => {
  let a: ArchivedRun;
  let dir: string;
  beforeAll(async () => {
    a = await archivedRun({ batches: 3, perBatch: 200, students: 6 });
    dir = join(a.dir, '..');
  });
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('is refused without a consent source, and without a pseudonym key unless --raw-ids', async () => {
    const out = join(dir, 'none.car');
    const r = await run(archiveCommand, ['export', '--dir', a.dir, '--research', '--out', out], { LOFLOW_PSEUDONYM_KEY: KEY });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/refused: a research export needs a consent source: --consent FILE/);
    expect(existsSync(out)).toBe(false);
    const c = file('c0.csv', 'student,consent\ns-0000,yes\n');
    const k = await run(archiveCommand, ['export', '--dir', a.dir, '--research', '--consent', c, '--out', out], { LOFLOW_PSEUDONYM_KEY: undefined });
    expect(k.code).toBe(2);
    expect(k.err).toMatch(/refused: a research export is pseudonymized and needs a secret key .*LOFLOW_PSEUDONYM_KEY.*; or pass --raw-ids/);
    expect(existsSync(out)).toBe(false);
    expect((await run(archiveCommand, ['export', '--dir', a.dir, '--consent', c, '--out', out])).err).toMatch(/--consent is used with --research/);
    const unlogged = await run(archiveCommand, ['export', '--dir', a.dir, '--research', '--consent', c, '--no-log', '--out', out], { LOFLOW_PSEUDONYM_KEY: KEY });
    expect(unlogged.err).toMatch(/refused: a research export is always recorded in the analysis log/);
    expect(existsSync(out)).toBe(false);
  });

  it('checks the consent file, naming file and line', () => {
    expect(() => loadConsent(file('bad1.csv', 'id,consent\ns-0000,maybe\n'))).toThrow(/bad1\.csv:2: consent 'maybe' for 's-0000' is neither yes nor no/);
    expect(() => loadConsent(file('bad2.csv', 'id,consent\ns-0000,yes\ns-0000,no\n'))).toThrow(/bad2\.csv:3: 's-0000' is listed twice \(first on line 2\)/);
    expect(() => loadConsent(file('bad3.csv', 'student,class\ns-0000,a\n'))).toThrow(/bad3\.csv:1: no consent or research_consent column \(the header has: student, class\)/);
    // A roster with a research_consent column is a consent source too.
    const roster = loadConsent(file('roster.csv', 'student,class,teacher,research_consent\ns-0000,a,t,Yes\ns-0001,a,t,\n'));
    expect([...roster.consented]).toEqual(['s-0000']);
    expect([...roster.declined]).toEqual(['s-0001']);
  });

  it('holds only consented students, pseudonymized; a withdrawal drops the student from the next export and lists the exports to recall', async () => {
    const c1 = file('c1.csv', 'id,consent,date\ns-0000,yes,2026-09-01\ns-0001,yes,2026-09-01\ns-0002,no,2026-09-01\n');
    const first = join(dir, 'study1.car');
    const r1 = await run(archiveCommand, ['export', '--dir', a.dir, '--research', '--consent', c1, '--out', first], { LOFLOW_PSEUDONYM_KEY: KEY });
    expect(r1.code).toBe(0);
    expect(r1.err).toMatch(/research: 2 consented students included \(2 consented in .*c1\.csv, 1 declined or withdrawn\)/);
    const key = Buffer.from(KEY);
    expect(await learnersOf(first)).toEqual([pseudonym(key, 's-0000'), pseudonym(key, 's-0001')].sort());
    const bytes = readFileSync(first).toString('latin1');
    for (const id of ['s-0000', 's-0001', 's-0002', 's-0003']) expect(bytes).not.toContain(id); // no raw ids, and no one else
    expect((await verifyCar(first)).ok).toBe(true);
    const src = await carSource(first);
    expect((await readCommit(src)).filter).toMatchObject({ research: { learners: 2 } });
    await src.close();

    // Raw ids only when asked for.
    const raw = join(dir, 'study1-raw.car');
    expect((await run(archiveCommand, ['export', '--dir', a.dir, '--research', '--raw-ids', '--consent', c1, '--out', raw])).code).toBe(0);
    expect(await learnersOf(raw)).toEqual(['s-0000', 's-0001']);

    // s-0001 withdraws: the next export leaves them out.
    const c2 = file('c2.csv', 'id,consent,date\ns-0000,yes,2026-09-01\ns-0001,no,2026-12-01\ns-0002,no,2026-09-01\n');
    const second = join(dir, 'study2.car');
    expect((await run(archiveCommand, ['export', '--dir', a.dir, '--research', '--consent', c2, '--out', second], { LOFLOW_PSEUDONYM_KEY: KEY })).code).toBe(0);
    expect(await learnersOf(second)).toEqual([pseudonym(key, 's-0000')]);

    // The analysis log holds who each research export included, as pseudonyms only.
    const logged = (await listAnalyses(new FolderBlockstore(a.dir))).filter((e) => e.entry.research);
    expect(logged.map((e) => e.entry.research!.learners.length)).toEqual([1, 2, 2]); // newest first
    expect(JSON.stringify(logged.map((e) => e.entry.research))).not.toMatch(/s-000/);

    const recalls = await run(consentCommand, ['recalls', '--consent', c2, '--dir', a.dir]);
    expect(recalls.code).toBe(0);
    const lines = recalls.out.split('\n');
    expect(lines[0]).toBe('s-0001 (consent no since 2026-12-01): recall 2 research exports');
    expect(lines.slice(1)).toHaveLength(2);
    expect(lines[1]).toContain(logged[2].entry.output.toString()); // the first study export, oldest first
    expect(lines[2]).toContain(logged[1].entry.output.toString());
    expect(recalls.out).not.toMatch(/s-0000|s-0002/); // still consented / never exported

    // A student who simply left the file is no longer consented either: shown by pseudonym.
    const c3 = file('c3.csv', 'id,consent\ns-0001,no\n');
    const gone = await run(consentCommand, ['recalls', '--consent', c3, '--dir', a.dir, '--json']);
    const rows = gone.out.split('\n').map((l) => JSON.parse(l) as { student: string | null; exports: unknown[] });
    expect(rows.map((r) => [r.student, r.exports.length])).toEqual([
      ['s-0001', 2],
      [null, 3],
    ]);
  });

  it('works on an encrypted archive (format 3) too, with its master key', async () => {
    const masterKey = randomBytes(32).toString('base64');
    const dirE = join(tmp(), 'archive');
    const pipeline = await demo();
    const saved = process.env.LOFLOW_MASTER_KEY;
    process.env.LOFLOW_MASTER_KEY = masterKey;
    try {
      const writer = await ArchiveWriter.open(dirE, { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() }, 100, { crypto: await openWriterCrypto(dirE, pipeline.name, {}) });
      const engine = new Engine(pipeline, { archive: writer });
      await engine.ingest('extension', [...new Classroom({ students: 4, seed: 3 }).events(200)].map((e) => e.event as LoEvent), 1000);
      await engine.flush();
      await engine.stop();
    } finally {
      if (saved === undefined) delete process.env.LOFLOW_MASTER_KEY;
      else process.env.LOFLOW_MASTER_KEY = saved;
    }
    const c = file('enc.csv', 'id,consent\ns-0001,yes\ns-0002,no\n');
    const out = join(dir, 'enc-study.car');
    const r = await run(archiveCommand, ['export', '--dir', dirE, '--research', '--consent', c, '--out', out], { LOFLOW_PSEUDONYM_KEY: KEY, LOFLOW_MASTER_KEY: masterKey });
    expect(r.code, r.err).toBe(0);
    expect(await learnersOf(out)).toEqual([pseudonym(Buffer.from(KEY), 's-0001')]);
    expect(readFileSync(out).toString('latin1')).not.toMatch(/s-000\d/);
  });
});
