// Issue #16's retention "done when": with a fake clock (`--now`), a month of raw events expires: gone from the
// input log (the file log, and the Redis Stream log on the run's throwaway Redis), unreadable in the
// encrypted archive (their per-learner-per-month data keys destroyed: a replay reads January only and reports
// November's chains as unreadable), their dead letters gone, while the derived states stay exactly as they
// were and the running engine goes on. The pass runs through `loflow retention run` beside the live engine.
import { describe, expect, inject, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ArchiveWriter } from '../../archive/writer.js';
import { FileDekStore, learnerPseudonym, learnerKid } from '../../archive/keys/index.js';
import { openWriterCrypto } from '../../archive/open-crypto.js';
import { openArchive } from '../../archive/replay-source.js';
import { Classroom } from '../../engine/classroom.js';
import { invoke } from '../../engine/cli/command.js';
import { retentionCommand } from '../../engine/cli/retention-command.js';
import { replayCommand } from '../../engine/cli/replay-command.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { FileDeadLetterStore } from '../../engine/deadletter/file-deadletter.js';
import { FileInputLog } from '../../engine/log/file-log.js';
import { openCheckpoint } from '../../engine/checkpoint/open.js';
import { Engine } from '../../engine/runtime.js';
import { RedisStateStore } from '../../engine/state/redis-store.js';
import { inKey } from '../../engine/state/key-layout.js';
import type { InputLog, LoEvent, StateStore } from '../../engine/types.js';

const root = join(import.meta.dirname, '../..');
const NOV = Date.parse('2026-11-10T09:00:00Z');
const JAN = Date.parse('2027-01-10T09:00:00Z');
const NOW = '2027-03-05T12:00:00Z'; // raw 90d -> horizon 2026-12-05: November expires whole, January stays

async function states(store: StateStore, pipeline: string) {
  const out: Record<string, unknown> = {};
  for await (const [ref, s] of store.scan(pipeline)) out[`${ref.reducer}/${ref.version}/${ref.key}`] = s;
  return out;
}

/** Runs a command object in this process and returns its exit code, stdout and stderr. */
async function run(args: string[], cmd = retentionCommand) {
  const lines: string[] = [];
  const errs: string[] = [];
  const [log, error] = [console.log, console.error];
  const write = process.stdout.write;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  console.error = (...a: unknown[]) => void errs.push(a.join(' '));
  process.stdout.write = ((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0) as typeof process.stdout.write;
  try {
    return { code: await invoke(cmd, args), out: lines.join('\n'), err: errs.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
    process.stdout.write = write;
  }
}

describe.each(['file', 'redis'] as const)('retention with the %s input log', (kind) => {
  it('expires November: its raw events leave the log, its keys go, derived states stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-retention-'));
    mkdirSync(join(dir, 'rosters'));
    copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
    const name = `ret${kind}${Date.now()}`;
    const file = join(dir, 'pipeline.yaml');
    const text = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`).replace('commit_every: 10s', 'commit_every: 1h');
    writeFileSync(file, `${text}\nretention: { raw: 90d, derived: 1y, dead_letters: 60d }\n`);
    const { pipeline } = await compilePipelineFile(file);
    const store = await RedisStateStore.connect(inject('redisUrl'));
    const logDir = join(dir, 'log');
    const log: InputLog = kind === 'file' ? new FileInputLog(logDir) : (await openCheckpoint('redis', name, store, 'none')).log!;
    const archiveDir = join(dir, 'archive');
    const data = join(dir, 'data');
    const deadLetters = new FileDeadLetterStore(join(data, name, 'deadletters.ndjson'));
    // An encrypted archive (format 3): a master key, data keys in <archive>/keys, one per learner per month.
    process.env.LOFLOW_MASTER_KEY = randomBytes(32).toString('base64');
    const crypto = await openWriterCrypto(archiveDir, name, {});
    const writer = await ArchiveWriter.open(archiveDir, { name, text: pipeline!.text, sources: pipeline!.sources.keys() }, 1000, { crypto });
    const engine = new Engine(pipeline!, { store, log, archive: writer, deadLetters });
    await engine.start();

    // November and January classes; one refused event each month (a dead letter).
    const events = [...new Classroom({ students: 4, seed: 5 }).events(240)].map((e) => e.event as LoEvent);
    const nov = events.slice(0, 120).map((e) => ({ ...e, note: 'november' }));
    const jan = events.slice(120).map((e) => ({ ...e, note: 'january' }));
    expect((await engine.ingest('extension', [...nov, 'not an event'], NOV)).accepted).toBe(120);
    expect((await engine.ingest('extension', [...jan, 'not an event'], JAN)).accepted).toBe(120);
    await engine.flush();
    await writer.commit(); // durably archived: the events may leave the log
    const before = await states(store, name);
    expect(Object.keys(before).length).toBeGreaterThan(0);

    // The archive's data keys, as the encrypting writer made them: one per learner per month.
    const keys = FileDekStore.forArchive(archiveDir);
    const learners = [...new Set(events.map((e) => (e.auth as { user_id: string }).user_id))];
    const pseuds = await Promise.all(learners.map((id) => learnerPseudonym(crypto.provider, id)));
    const kidsBefore = await keys.kids();
    for (const p of pseuds) for (const month of ['2026-11', '2027-01']) expect(kidsBefore).toContain(learnerKid(p, month));
    const replayed = async () => {
      const a = await openArchive((await writer.store.head())!.toString(), { dir: archiveDir, keys: { provider: crypto.provider, deks: keys } });
      const notes: string[] = [];
      for await (const e of a.events([...pipeline!.sources.keys()])) notes.push((e.event as { note?: string }).note ?? '');
      return { notes, unreadable: a.unreadable() };
    };
    const full = await replayed();
    expect(full.notes.filter((n) => n === 'november')).toHaveLength(120);
    expect(full.unreadable.learners).toBe(0);

    const args = ['run', file, '--now', NOW, '--state', inject('redisUrl'), '--data', data, '--archive', archiveDir, ...(kind === 'file' ? ['--log', logDir] : ['--checkpoint', 'redis'])];
    const dry = await run([...args, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/raw: would remove 120: raw events before 2026-12-05/);
    expect(dry.out).toMatch(new RegExp(`keys: would remove ${learners.length}: archive data keys of months before 2026-12`));
    const rawNow = async () => (kind === 'file' ? readdirSync(logDir).map((f) => readFileSync(join(logDir, f), 'utf8')).join('') : JSON.stringify(await store.redis.xrange(inKey(name), '-', '+')));
    expect(await rawNow()).toMatch(/november/); // a dry run removed nothing

    const real = await run(args);
    expect(real.code).toBe(0);
    expect(real.out).toMatch(/raw: removed 120: raw events before 2026-12-05/);
    expect(real.out).toMatch(/dead_letters: removed 1: dead letters before 2027-01-04/);
    // Gone from the log, bytes and all; January is still there.
    expect(await rawNow()).not.toMatch(/november/);
    expect(await rawNow()).toMatch(/january/);
    // November's learner keys are destroyed, January's stay (derived streams' keys are kept a year).
    const kidsAfter = await keys.kids();
    for (const p of pseuds) {
      expect(kidsAfter).not.toContain(learnerKid(p, '2026-11'));
      expect(kidsAfter).toContain(learnerKid(p, '2027-01'));
    }
    // A replay of the archive reads January's events only and reports November's as unreadable (key missing).
    const after = await replayed();
    expect(after.notes.filter((n) => n === 'november')).toHaveLength(0);
    expect(after.notes.filter((n) => n === 'january')).toHaveLength(120);
    expect(after.unreadable).toMatchObject({ learners: learners.length, keyMissing: learners.length, erased: 0, events: 120 });
    // The same through `loflow replay` of the archive's HEAD: it says what it could not read, and why.
    const replay = await run([file, (await writer.store.head())!.toString(), '--archive', archiveDir, '--no-log', '--summary'], replayCommand);
    expect(replay.code).toBe(0);
    expect(replay.err).toMatch(new RegExp(`unreadable: ${learners.length} learners \\(0 erased, ${learners.length} key missing\\).*, 120 events skipped`));
    // Dead letters: November's refused event went, January's is kept.
    expect((await deadLetters.list()).map((l) => l.at)).toEqual([JAN]);
    // The derived states are untouched, and the live engine goes on.
    expect(await states(store, name)).toEqual(before);
    expect((await engine.ingest('extension', events.slice(0, 10), Date.now())).accepted).toBe(10);
    await engine.flush();
    await engine.stop();
    // Reopened, the log reads on from the committed offset.
    if (kind === 'file') {
      const again = new FileInputLog(logDir);
      expect(await again.end()).toBe(250);
      const left = await again.read(0, 1000);
      expect(left).toHaveLength(130); // January's 120 and the 10 sent after the pass; November's are tombstones
      expect(left.some((e) => (e.event as { note?: string }).note === 'november')).toBe(false);
      await again.close();
    }
    await store.close();
    delete process.env.LOFLOW_MASTER_KEY;
  });
});
