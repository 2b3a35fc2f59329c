// A filtered or de-identified export: the selected events of a commit (streams, arrival time window),
// optionally pseudonymized and with fields dropped, written as a new self-contained DAG (format 2, its own
// commit with no history; `filter` records what was kept) and then as a CAR. From an encrypted archive (the
// source's keys on `src`) the export is a plaintext DAG of the chains that still decrypt (erased learners are
// not in it). The same selection of the same
// commit gives the same root CID.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID, decodeBlock, encodeNormalized } from './blocks.js';
import { CarSink } from './car-sink.js';
import type { ExportFilter } from './format.js';
import type { LoEvent } from '../engine/types.js';
import { IdScanner } from './id-scan.js';
import { byteRewriters } from './byte-rewriters.js';
import { localRewriter, threadRewriter, type BatchRewriter } from './rewrite-batch.js';
import { rewriteStreamOnBytes } from './rewrite-stream.js';
import { learnerPaths, learnerReader, pipelineSources } from './learners.js';
import { deidentifier, type Deidentify } from './pseudonymize.js';
import { isParted } from './parts.js';
import { readCommit, readIndex, readPipeline, streamEntries, type BlockSource } from './read.js';
import { ArchiveWriter } from './writer.js';

export interface Selection {
  /** Streams to keep (default: all). */
  streams?: string[];
  /** Keep events that arrived at or after `since` and before `until` (ms). */
  since?: number;
  until?: number;
  deidentify?: Deidentify;
  /** With a pseudonym key: write the export even when a learner id still occurs in it (default: refuse). */
  allowIds?: boolean;
  /**
   * A research export: only events of these learners (the consented ones) are kept; events without a
   * learner id are left out (whose they are is unknown).
   */
  learners?: ReadonlySet<string>;
}

/** A pseudonymized export that would still contain learner ids: nothing is written. */
export class ExportRefused extends Error {
  constructor(
    message: string,
    readonly paths: string[],
  ) {
    super(message);
  }
}

export interface RewriteResult {
  root: CID;
  events: number;
  /** Of `events`, those rewritten on their bytes (the rest were decoded: see deidentify-bytes.ts). */
  onBytes: number;
  /** With `learners`: the learners whose events the export holds. */
  included?: string[];
  blocks: number;
  bytes: number;
}

/** A stream of this many events or more is rewritten in threads (starting them costs ~50 ms). */
const THREADS_FROM = 50_000;

/**
 * `bytePath: false` decodes every event and re-encodes its de-identified copy, as before the byte path
 * (deidentify-bytes.ts): for comparing the two; both give the same DAG. `threads`: rewrite threads (0: on
 * this thread; default: threads for a stream of THREADS_FROM events or more, one per core but this one's);
 * `batch`: events a batch (tests make it small).
 */
export async function exportSelection(src: BlockSource, sel: Selection, out: string, chunkEvents = 1000, { bytePath = true, threads, batch: batchSize = 4096 }: { bytePath?: boolean; threads?: number; batch?: number } = {}): Promise<RewriteResult> {
  const commit = await readCommit(src);
  if (isParted(commit)) throw new Error('a filtered or de-identified export of a partitioned archive (format 3 parts) is not built yet; `loflow archive export` without filters writes its whole DAG');
  const pipeline = await readPipeline(src, commit);
  const all = Object.keys(commit.heads);
  for (const s of sel.streams ?? []) {
    if (!commit.heads[s]) throw new Error(`the archive has no stream '${s}' (streams: ${all.join(', ') || 'none'})`);
  }
  const streams = sel.streams ? all.filter((s) => sel.streams!.includes(s)) : all;
  const since = sel.since ?? -Infinity;
  const until = sel.until ?? Infinity;
  const d = sel.deidentify;
  const transform = d ? deidentifier(d) : (e: LoEvent) => e;
  // Derived events name the reducer key they were emitted for (`key`: the learner id, for a learner-keyed
  // reducer): pseudonymized too, so a derived stream does not undo the pseudonyms.
  const sources = new Set(pipelineSources(pipeline.text));
  const transformDerived = d?.key ? deidentifier({ ...d, idFields: [...d.idFields, '$.key'] }) : transform;
  // A pseudonymized export must not carry a learner id anywhere: the ids are the commit's learners (every
  // stream's, the selected time window or not), searched for in every event as written. A format 2 index
  // lists them; events are read for them only when it cannot (format 1, a legacy chain, several key paths).
  const scanner = d?.key && !sel.allowIds ? new IdScanner() : undefined;
  const leaks = new Map<string, number>();
  if (scanner) {
    const paths = learnerPaths(pipeline.text);
    const readers = paths.map(learnerReader);
    for (const stream of all) {
      const idx = await readIndex(src, commit, stream);
      // An encrypted archive's index holds pseudonyms, not ids: its ids are read from the (decrypted) events.
      if (!commit.crypto) for (const id of Object.keys(idx?.learners ?? {})) scanner.add(id);
      if (!commit.crypto && idx && !idx.legacy && paths.length === 1 && idx.key === paths[0]) continue;
      for (const e of await streamEntries(src, commit, stream)) {
        for (const read of readers) {
          const id = read(e.e);
          if (id !== null) scanner.add(id);
        }
      }
    }
    scanner.scan(pipeline.text, () => leaks.set('the pipeline text', (leaks.get('the pipeline text') ?? 0) + 1));
  }
  const bytes = bytePath ? byteRewriters(pipeline.text, d, !!sel.learners, scanner ? scanner.list() : null) : null;
  // The new DAG goes straight into the CAR (car-sink.ts); the scratch folder holds the writer's lock only.
  const dir = mkdtempSync(join(tmpdir(), 'loflow-export-'));
  const sink = await CarSink.create(dir, out);
  let finished = false;
  let rewriter: BatchRewriter | null = null;
  try {
    const writer = await ArchiveWriter.open(dir, { name: pipeline.name, text: pipeline.text }, chunkEvents, { durable: false, store: sink });
    let events = 0;
    let onBytes = 0;
    const only = sel.learners;
    const idOf = only ? learnerPaths(pipeline.text).map(learnerReader) : [];
    const writerLearner = learnerReader(learnerPaths(pipeline.text)[0]); // the scratch writer's key path
    const included = new Set<string>();
    // A research export keeps only the consented learners' events (the first learner path that reads one).
    const consented = (who: string | null): boolean => {
      if (who === null || !only!.has(who)) return false;
      included.add(who);
      return true;
    };
    const learnerOfEvent = (e: LoEvent): string | null => {
      for (const read of idOf) {
        const who = read(e);
        if (who !== null) return who;
      }
      return null;
    };
    for (const stream of streams) {
      if (bytes && (sources.has(stream) ? bytes.source : bytes.derived)) {
        const t = sources.has(stream) ? transform : transformDerived;
        if (!rewriter?.threaded) {
          if (threads !== undefined ? threads > 0 : (commit.counts[stream] ?? 0) >= THREADS_FROM) {
            await rewriter?.close();
            rewriter = threadRewriter({ text: pipeline.text, deidentify: d ? { ...d, key: d.key && new Uint8Array(d.key) } : null, learners: !!only, ids: scanner ? [...scanner.list()] : null }, bytes, threads);
          } else rewriter ??= localRewriter(bytes, !!scanner);
        }
        const done = await rewriteStreamOnBytes({
          src,
          commit,
          stream,
          derived: !sources.has(stream),
          since,
          until,
          bytes,
          rewriter,
          batchSize,
          only,
          consented,
          writer,
          decoded: (b, o, at, note) => {
            const source = decodeBlock<LoEvent>(b);
            if (only && !consented(learnerOfEvent(source))) return null;
            const event = t(source);
            scanner?.scan(event, note);
            return { offset: o, at, bytes: encodeNormalized(event), learner: writerLearner(event) };
          },
        });
        if (done) {
          events += done.events;
          onBytes += done.onBytes;
          for (const [k, n] of done.leaks) leaks.set(k, (leaks.get(k) ?? 0) + n);
          continue;
        }
        // Not stored as the byte path reads it (an odd chunk): nothing was written; the objects' way below.
      }
      let kept = [];
      const t = sources.has(stream) ? transform : transformDerived;
      const entries = await streamEntries(src, commit, stream);
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k];
        // Each decoded event is let go once copied, and the copies are handed to the writer in batches: the
        // live heap (and so each garbage collection) stays smaller than a whole stream twice over.
        (entries as unknown[])[k] = undefined;
        if (kept.length >= 4096) {
          events += kept.length;
          await writer.append(stream, kept);
          kept = [];
        }
        if (e.t < since || e.t >= until) continue;
        if (only && !consented(learnerOfEvent(e.e))) continue;
        const event = t(e.e);
        scanner?.scan(event, (path) => leaks.set(`${stream}: ${path}`, (leaks.get(`${stream}: ${path}`) ?? 0) + 1));
        kept.push({ offset: e.o, stream, event, at: e.t });
      }
      events += kept.length;
      await writer.append(stream, kept);
    }
    if (leaks.size) {
      const where = [...leaks].map(([p, n]) => `${p} (${n} event${n === 1 ? '' : 's'})`);
      throw new ExportRefused(
        `refused: learner ids would remain in ${where.slice(0, 12).join(', ')}${where.length > 12 ? `, and ${where.length - 12} more` : ''}. ` +
          `Declare these fields in the pipeline's identifiers:, or pass --id-field / --drop-field for them, or --allow-ids to write it anyway`,
        [...leaks.keys()],
      );
    }
    const filter: ExportFilter = {
      from: src.root.toString(),
      streams: sel.streams ? streams : null,
      since: sel.since ?? null,
      until: sel.until ?? null,
      pseudonymized: sel.deidentify?.key ? sel.deidentify.idFields : [],
      dropped: sel.deidentify?.dropFields ?? [],
      ...(only ? { research: { learners: included.size } } : {}),
    };
    const root = CID.parse(await writer.commit({ time: commit.time, filter }));
    await writer.close();
    const r = await sink.finish();
    finished = true;
    return { root, events, onBytes, ...r, ...(only ? { included: [...included].sort() } : {}) };
  } finally {
    await rewriter?.close();
    if (!finished) await sink.abort();
    rmSync(dir, { recursive: true, force: true });
  }
}
