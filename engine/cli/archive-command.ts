import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { appendAnalysis, bytesCid, listAnalyses } from '../../archive/analysis-log.js';
import { researchConsent, researchKey } from './research-export.js';
import { rm } from 'node:fs/promises';
import { AuditLog } from '../audit/audit-log.js';
import { archiveAuditDir } from '../audit/dir.js';
import { cliActor, pseudonymOf, type AuditEntry } from '../audit/record.js';
import { CID, decodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import type { CommitBlock, PipelineBlock } from '../../archive/format.js';
import { gc } from '../../archive/gc.js';
import { importCar } from '../../archive/import.js';
import { identifierPaths, normalizePath } from '../../archive/learners.js';
import { PSEUDONYM_KEY_ENV } from '../../archive/pseudonymize.js';
import { isParted, partsOf, streamsOf } from '../../archive/parts.js';
import { folderSource, learnerEntries, openSource, readCommit, type BlockSource } from '../../archive/read.js';
import { exportSelection, type Selection } from '../../archive/rewrite.js';
import { readerKeys } from '../../archive/open-crypto.js';
import { ReaderKeys } from '../../archive/reader-keys.js';
import type { Command } from './command.js';

const usage = `loflow archive <subcommand> [options]

Subcommands:
  export --out x.car [--commit CID]   write a commit (default HEAD) and everything it reaches (its history too)
                                      as a CARv1 file and print its root CID. With any of these options, a new
                                      self-contained DAG (one commit, no history) of only the selected events:
      --stream S                      keep stream S (repeatable, or S1,S2; default all)
      --since T / --until T           keep events that arrived at or after T / before T (ISO time or ms)
      --pseudonymize                  replace learner ids by HMAC-SHA256(key, id), key from env
                                      ${PSEUDONYM_KEY_ENV} (refused without it; never written anywhere)
      --id-field PATH                 the fields to pseudonymize (repeatable; default: the pipeline's
                                      identifiers: and its learner keys, e.g. keys.student: $.auth.user_id;
                                      a value is replaced whole, so one containing an id is covered)
      --allow-ids                     write it even if a learner id still occurs in an event (by default
                                      such an export is refused, naming the fields where ids remain)
      --drop-field PATH               remove a field from every event (repeatable), e.g. server.ip
      --research --consent FILE       a research export: only the events of students whose consent is yes in
                                      FILE (CSV id,consent[,date], or a roster CSV with a consent or
                                      research_consent column; --consent-id COL / --consent-column COL name
                                      others); refused without --consent. Pseudonymized (as --pseudonymize)
                                      unless --raw-ids; the analysis log records the students it included
                                      (as audit pseudonyms), so loflow consent recalls can name it later
  verify x.car                        check every block's hash and that the DAG is complete; names the first
                                      bad block (exit 1). A block the root does not reach fails it too
      --allow-unreachable             (exit 1) unless this is given (then a warning line)
  import x.car                        verify, then store its blocks and pin its root; a folder without HEAD
                                      takes the imported commit as HEAD (a live archive's HEAD stays)
  learner ID [x.car] [--stream S]     one learner's events (NDJSON), read through the stream's index: only
                                      that learner's chunks are read. From a CAR, or the archive's HEAD
  log [--analyses] [--commit CID]     commits, newest first (like git log), from HEAD or CID; --analyses: the analysis log
                                      (every replay and export: pipeline, input and output CIDs, engine, time)
  ls [--commit CID]                   streams of the HEAD commit (or CID) with event and learner counts
  pin CID | unpin CID | pins          keep a DAG against gc / stop keeping it / list pins
  gc [--dry-run]                      delete every block not reachable from a pin, HEAD (with its history)
                                      or the analysis log; prints what it removed
Options:
  --dir D    the archive folder (default: $LOFLOW_ARCHIVE, else .loflow/archive, else the only
             .loflow/<pipeline>/archive folder; see \`loflow serve --data\`)
  --master-key-file F  an encrypted archive's master key (default $LOFLOW_MASTER_KEY_FILE, $LOFLOW_MASTER_KEY):
             learner and filtered exports decrypt with it; verify, import, gc, pin and a whole-archive
             export need no key (blocks hash the ciphertext)
  --keys K   the data keys: redis://host:port or a keys folder (default: the archive folder's keys/)
  --no-log   export: do not append to the analysis log
  --audit D  the audit log folder (default $LOFLOW_AUDIT, else the audit folder beside the archive
             folder): export and learner are recorded there (loflow audit); an export whose record
             cannot be written is removed again
  --help     this text`;

/** The archive folder: --dir, $LOFLOW_ARCHIVE, .loflow/archive, or the only .loflow/<pipeline>/archive. */
export function archiveDir(option: unknown): string {
  if (typeof option === 'string') return resolve(option);
  if (process.env.LOFLOW_ARCHIVE) return resolve(process.env.LOFLOW_ARCHIVE);
  const plain = resolve('.loflow/archive');
  if (existsSync(plain)) return plain;
  let found: string[] = [];
  try {
    found = readdirSync('.loflow').map((d) => resolve('.loflow', d, 'archive')).filter((d) => existsSync(d));
  } catch {
    // no .loflow folder
  }
  return found.length === 1 ? found[0] : plain;
}

/** Every value of a repeatable option (`--x a --x b`, `--x=a`, `--x a,b`). */
function many(argv: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}` && i + 1 < argv.length && !argv[i + 1].startsWith('--')) out.push(argv[++i]);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out.flatMap((v) => v.split(',')).filter(Boolean);
}

function parseTime(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) : NaN;
  if (!Number.isFinite(t)) throw new UsageError(`--${name} needs a time: an ISO date/time (2026-11-25T09:00:00Z) or milliseconds since 1970`);
  return t;
}

class UsageError extends Error {}

const BOOLEANS = ['analyses', 'pseudonymize', 'dry-run', 'no-log', 'allow-unreachable', 'allow-ids', 'research', 'raw-ids'];

/** A commit block (format.ts CommitBlock): its heads and counts per stream. */
function isCommit(b: unknown): boolean {
  return !!b && typeof b === 'object' && (b as CommitBlock).type === 'loflow/commit';
}

async function headCommit(store: FolderBlockstore, cid?: string): Promise<{ cid: CID; commit: CommitBlock } | undefined> {
  const c = cid ? CID.parse(cid) : await store.head();
  if (!c) return undefined;
  return { cid: c, commit: decodeBlock<CommitBlock>(await store.get(c)) };
}

function parseCid(text: string | undefined, sub: string): CID {
  if (!text) throw new UsageError(`usage: loflow archive ${sub} CID`);
  try {
    return CID.parse(text);
  } catch {
    throw new UsageError(`'${text}' is not a CID`);
  }
}

export const archiveCommand: Command = {
  name: 'archive',
  summary: 'export, verify, import, gc and inspect the content-addressed event archive (IPLD, CAR)',
  usage,
  flags: BOOLEANS,
  async run({ positionals, options, argv }) {
    const [sub] = positionals;
    if (!sub) {
      console.error(usage);
      return 2;
    }
    try {
      return await run(sub, positionals, argv, options);
    } catch (err) {
      console.error(err instanceof UsageError ? err.message : `archive ${sub}: ${(err as Error).message}`);
      return err instanceof UsageError ? 2 : 1;
    }
  },
};

async function run(sub: string, positionals: string[], argv: string[], options: Record<string, string | boolean>): Promise<number> {
  const arg = positionals[1];
  if (sub === 'verify') {
    if (!arg) throw new UsageError('usage: loflow archive verify x.car');
    const r = await verifyCar(arg);
    if (!r.ok) {
      console.error(`FAILED ${arg}: ${r.error}`);
      return 1;
    }
    if (r.unreachable.length) {
      const what = `${r.unreachable.length} block${r.unreachable.length === 1 ? '' : 's'} not reachable from the root ${r.root} (first: ${r.unreachable[0]})`;
      if (!options['allow-unreachable']) {
        console.error(`FAILED ${arg}: ${what}; pass --allow-unreachable to accept such a CAR`);
        return 1;
      }
      console.error(`warning: ${arg}: ${what}`);
    }
    console.log(`ok ${arg}: root ${r.root}, ${r.blocks} blocks, ${r.bytes} bytes, every hash checked, DAG complete`);
    return 0;
  }
  const dir = archiveDir(options.dir);
  // Reading a CAR needs no folder; every other subcommand but import needs an existing one (not a new, empty one).
  if (sub === 'learner' && positionals[2]) return learnerCommand(arg, positionals[2], dir, options, archiveAuditDir(options.audit, dir));
  if (sub !== 'import' && !existsSync(dir)) {
    console.error(`no archive folder ${dir}: pass --dir (see loflow archive --help)`);
    return 1;
  }
  const store = new FolderBlockstore(dir);
  switch (sub) {
    case 'export':
      return exportCommand(store, argv, options, archiveAuditDir(options.audit, dir));
    case 'import': {
      if (!arg) throw new UsageError('usage: loflow archive import x.car');
      const r = await importCar(store, arg);
      console.log(r.root.toString());
      console.error(`imported ${arg} into ${dir}: ${r.blocks} blocks (${r.added} new, ${r.bytes} bytes), root pinned`);
      // A folder of its own (no HEAD yet) gets the imported commit as HEAD, so ls, log, learner and replay
      // read it; a live archive's HEAD is never moved: name the import with --commit.
      const head = await store.head();
      if (!head && isCommit(decodeBlock<unknown>(await store.get(r.root)))) {
        await store.setHead(r.root);
        console.error(`HEAD is the imported commit`);
      } else if (head && !head.equals(r.root)) console.error(`HEAD unchanged (${head}): read the import with --commit ${r.root}`);
      return 0;
    }
    case 'pin':
    case 'unpin': {
      const cid = parseCid(arg, sub);
      const changed = sub === 'pin' ? await store.pin(cid) : await store.unpin(cid);
      if (sub === 'unpin' && !changed) {
        console.error(`${cid} is not pinned in ${dir}`);
        return 1;
      }
      console.log(`${sub === 'pin' ? (changed ? 'pinned' : 'already pinned') : 'unpinned'} ${cid}`);
      return 0;
    }
    case 'pins':
      for (const c of await store.pins()) console.log(c.toString());
      return 0;
    case 'gc': {
      const r = await gc(store, { dryRun: !!options['dry-run'] });
      const verb = options['dry-run'] ? 'would remove' : 'removed';
      for (const c of r.removed) console.log(`${verb} ${c}`);
      for (const t of r.temps) console.log(`${verb} ${t} (temp file of an interrupted write)`);
      console.error(`gc ${dir}: ${verb} ${r.removed.length} blocks${options['dry-run'] ? '' : ` (${r.bytes} bytes)`}, kept ${r.kept} (reachable from pins, HEAD and the analysis log)`);
      return 0;
    }
    case 'learner':
      return learnerCommand(arg, positionals[2], dir, options, archiveAuditDir(options.audit, dir));
    case 'log':
    case 'ls':
      return logCommand(sub, store, dir, options);
    default:
      throw new UsageError(`unknown archive subcommand '${sub}'\n\n${usage}`);
  }
}

/** One record in the audit log (the CLI's own writer: written, fsync'ed and closed before it returns). */
async function audited(auditDir: string, entry: Omit<AuditEntry, 'actor'>): Promise<string> {
  const log = new AuditLog(auditDir);
  const r = await log.record({ actor: cliActor(), ...entry });
  return r.hash;
}

async function exportCommand(store: FolderBlockstore, argv: string[], options: Record<string, string | boolean>, auditDir: string): Promise<number> {
  if (typeof options.out !== 'string') throw new UsageError('archive export needs --out x.car');
  const head = await headCommit(store, typeof options.commit === 'string' ? options.commit : undefined);
  if (!head) {
    console.error(`no commit in ${store.dir}: run a pipeline with an archive section first (or pass --dir)`);
    return 1;
  }
  const streams = many(argv, 'stream');
  const drop = many(argv, 'drop-field').map(normalizePath);
  const ids = many(argv, 'id-field').map(normalizePath);
  const sel: Selection = {
    streams: streams.length ? streams : undefined,
    since: parseTime('since', options.since),
    until: parseTime('until', options.until),
    allowIds: !!options['allow-ids'],
  };
  const pipeline = decodeBlock<PipelineBlock>(await store.get(head.commit.pipeline));
  // A research export: consented students only, pseudonymized unless --raw-ids says otherwise.
  const research = options.research === true;
  const consent = researchConsent(options, (m) => new UsageError(m));
  if (consent) sel.learners = consent.consented;
  const pseudonymize = options.pseudonymize === true || (research && !options['raw-ids']);
  if (pseudonymize || drop.length) {
    if (ids.length && !pseudonymize) throw new UsageError('--id-field is used with --pseudonymize');
    sel.deidentify = {
      key: pseudonymize ? researchKey(research, (m) => new UsageError(m)) : null,
      idFields: pseudonymize ? (ids.length ? ids : identifierPaths(pipeline.text)) : [],
      dropFields: drop,
    };
  }
  const filtered = sel.streams || sel.since !== undefined || sel.until !== undefined || sel.deidentify || sel.learners;
  let root: CID;
  let included: string[] | undefined;
  if (filtered) {
    const src = await folderSource(store.dir, head.cid.toString());
    await withKeys(src, head.commit, store.dir, options);
    const r = await exportSelection(src, sel, options.out);
    reportUnreadable(src);
    root = r.root;
    included = r.included;
    console.error(
      `wrote ${options.out}: ${r.events} events selected, ${r.blocks} blocks, ${r.bytes} bytes` +
        (consent ? `; research: ${r.included!.length} consented students included (${consent.consented.size} consented in ${options.consent}, ${consent.declined.size} declined or withdrawn)` : '') +
        (sel.deidentify?.key ? `; pseudonymized ${sel.deidentify.idFields.join(', ')}` : '') +
        (drop.length ? `; dropped ${drop.join(', ')}` : ''),
    );
  } else {
    const r = await exportCar(store, head.cid, options.out);
    root = head.cid;
    console.error(`wrote ${options.out}: ${r.blocks} blocks, ${r.bytes} bytes`);
  }
  // Student data left the archive: on record before the command says so, or the file goes again.
  let auditHash: string;
  try {
    auditHash = await audited(auditDir, {
      action: 'archive.export',
      target: { pipeline: pipeline.name, input: head.cid.toString(), output: root.toString(), file: resolve(options.out), pseudonymized: !!sel.deidentify?.key, ...(included ? { purpose: 'research', students: included.length } : {}), ...(streams.length ? { streams: streams.join(',') } : {}), ...(sel.since !== undefined ? { since: sel.since } : {}), ...(sel.until !== undefined ? { until: sel.until } : {}) },
      result: 'ok',
    });
  } catch (err) {
    await rm(options.out, { force: true });
    throw new Error(`the audit log ${auditDir} cannot be written (${(err as Error).message}): ${options.out} was removed`);
  }
  console.log(root.toString());
  if (!options['no-log']) {
    const command = ['archive', 'export', ...argv.slice(argv.indexOf('export') + 1)].join(' ');
    const researchRecord = consent && included ? { consent: bytesCid(consent.bytes), learners: included.map((id) => pseudonymOf(auditDir, id)).sort() } : undefined;
    await appendAnalysis(store, { command, pipeline, input: head.cid, output: root, audit: auditHash, ...(researchRecord ? { research: researchRecord } : {}) });
  }
  return 0;
}

async function learnerCommand(id: string | undefined, car: string | undefined, dir: string, options: Record<string, string | boolean>, auditDir: string): Promise<number> {
  if (!id) throw new UsageError('usage: loflow archive learner ID [x.car] [--stream S]');
  // One student's raw events: recorded (as a pseudonym) before any is printed.
  await audited(auditDir, { action: 'student.read', target: { student: pseudonymOf(auditDir, id), source: car ? resolve(car) : dir, ...(typeof options.stream === 'string' ? { stream: options.stream } : {}) }, result: 'ok' });
  let src: BlockSource;
  if (car) src = await openSource(car, dir);
  else src = await folderSource(dir, typeof options.commit === 'string' ? options.commit : undefined);
  try {
    const commit = await readCommit(src);
    await withKeys(src, commit, dir, options);
    const streams = typeof options.stream === 'string' ? [options.stream] : await streamsOf((c) => src.get(c), commit);
    // In log order across streams (each stream's are in order already), so `loflow replay` can read it back.
    const all: Array<{ stream: string; offset: number; at: number; event: unknown }> = [];
    for (const stream of streams) for (const e of await learnerEntries(src, commit, stream, id)) all.push({ stream, offset: e.o, at: e.t, event: e.e });
    all.sort((a, b) => a.offset - b.offset);
    for (const line of all) process.stdout.write(JSON.stringify(line) + '\n');
    const n = all.length;
    reportUnreadable(src);
    console.error(`${n} events of learner '${id}' (${streams.join(', ')})`);
    return 0;
  } finally {
    await src.close();
  }
}

/** An encrypted commit: the reader's keys on the source (erasures noted, so skipped chains say why). */
async function withKeys(src: BlockSource, commit: CommitBlock, dir: string, options: Record<string, string | boolean>): Promise<void> {
  if (!commit.crypto) return;
  const k = await readerKeys(dir, commit.name, { masterKeyFile: typeof options['master-key-file'] === 'string' ? options['master-key-file'] : undefined, keys: typeof options.keys === 'string' ? options.keys : undefined });
  const keys = await ReaderKeys.open(k.provider, k.deks, commit.name);
  await keys.noteErasures(async (cid) => decodeBlock(await src.get(cid)), src.root);
  // An older commit: the erasures since are in the folder's history (they explain its missing keys).
  const store = existsSync(join(dir, 'HEAD')) ? new FolderBlockstore(dir) : undefined;
  const head = await store?.head();
  if (store && head && !head.equals(src.root)) await keys.noteErasures(async (cid) => decodeBlock(await store.get(cid)), head);
  src.keys = keys;
}

function reportUnreadable(src: BlockSource): void {
  const u = src.keys?.summary();
  if (u && (u.learners || u.otherChains)) console.error(`unreadable: ${u.learners} learner${u.learners === 1 ? '' : 's'} (${u.erased} erased, ${u.keyMissing} key missing)${u.otherChains ? `, ${u.otherChains} chains without a learner` : ''}: ${u.events} events skipped`);
}

async function logCommand(sub: 'log' | 'ls', store: FolderBlockstore, dir: string, options: Record<string, string | boolean>): Promise<number> {
  if (sub === 'log' && options.analyses) {
    const entries = await listAnalyses(store);
    if (!entries.length) console.error(`no analyses logged in ${dir}`);
    for (const { cid, entry: a } of entries) {
      console.log(`analysis ${cid}\nDate:     ${new Date(a.time).toISOString()}\nCommand:  ${a.command}\nPipeline: ${a.pipeline}\nInput:    ${a.input}\nOutput:   ${a.output}\nEngine:   ${a.engine}\n${a.audit ? `Audit:    ${a.audit}\n` : ''}`);
    }
    return 0;
  }
  const at = typeof options.commit === 'string' ? options.commit : undefined;
  let head = await headCommit(store, at);
  if (!head) {
    const pins = await store.pins();
    console.error(`no commit in ${dir}${pins.length ? ` (no HEAD; pinned: ${pins.join(', ')}: pass --commit CID)` : ''}`);
    return 1;
  }
  if (sub === 'ls') {
    const src = await folderSource(dir, at);
    if (isParted(head.commit)) {
      // Partitioned: per stream, the summed count and how many parts hold it (each part has its own index).
      const parts = await partsOf((c) => src.get(c), head.commit);
      for (const [s, n] of Object.entries(head.commit.counts)) console.log(`${s.padEnd(20)} ${String(n).padStart(10)} events  in ${parts.filter((p) => p.heads[s]).length} of ${head.commit.partitioning!.count} parts`);
      return 0;
    }
    for (const [s, n] of Object.entries(head.commit.counts)) {
      let learners = '';
      if ((head.commit.format ?? 1) >= 2) {
        const idx = decodeBlock<{ learners: Record<string, unknown> }>(await src.get(head.commit.heads[s]));
        learners = `  ${String(Object.keys(idx.learners).length).padStart(7)} learners`;
      }
      console.log(`${s.padEnd(20)} ${String(n).padStart(10)} events${learners}  head ${head.commit.heads[s]}`);
    }
    return 0;
  }
  while (head) {
    const c: CommitBlock = head.commit;
    const parted = c.parts ? `Parts: ${c.parts.filter(Boolean).length} of ${c.partitioning!.count} (by ${c.partitioning!.by})\n` : '';
    const extra = parted + (c.crypto ? `Encrypted: ${c.crypto.alg}, key ${c.crypto.provider}\n${c.erasures?.length ? `Erasures: ${c.erasures.map(String).join(', ')}\n` : ''}` : '');
    console.log(`commit ${head.cid}\nDate:  ${new Date(c.time).toISOString()}\nPipeline: ${c.name} (${c.pipeline})\n${extra}    ${Object.entries(c.counts).map(([s, n]) => `${s}: ${n}`).join(', ')}\n`);
    head = c.prev ? await headCommit(store, c.prev.toString()) : undefined;
  }
  return 0;
}
