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
import { NotPlain, Slab } from './cbor-bytes.js';
import { ByteIdSearch, BytesDeidentifier, pathTrie, readLearner } from './deidentify-bytes.js';
import { rawStreamEntries } from './raw-entries.js';
import type { EncodedEvent } from './chunk-bytes.js';
import { parsePath } from '../engine/jsonpath.js';
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

/**
 * `bytePath: false` decodes every event and re-encodes its de-identified copy, as before the byte path
 * (deidentify-bytes.ts): for comparing the two; both give the same DAG.
 */
export async function exportSelection(src: BlockSource, sel: Selection, out: string, chunkEvents = 1000, { bytePath = true } = {}): Promise<RewriteResult> {
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
  const bytes = bytePath ? byteRewriters(pipeline.text, d, sel, scanner) : null;
  // The new DAG goes straight into the CAR (car-sink.ts); the scratch folder holds the writer's lock only.
  const dir = mkdtempSync(join(tmpdir(), 'loflow-export-'));
  const sink = await CarSink.create(dir, out);
  let finished = false;
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
      const rw = bytes && (sources.has(stream) ? bytes.source : bytes.derived);
      const raw = rw ? await rawStreamEntries(src, commit, stream) : null;
      if (raw && rw) {
        // On the bytes, event by event (an event the byte path does not reproduce is decoded instead).
        const t = sources.has(stream) ? transform : transformDerived;
        const note = (path: string) => leaks.set(`${stream}: ${path}`, (leaks.get(`${stream}: ${path}`) ?? 0) + 1);
        const eventLeaks: string[] = [];
        const found = scanner ? (path: string) => eventLeaks.push(path) : null;
        const out = new Slab();
        let batch: EncodedEvent[] = [];
        for (let k = 0; k < raw.length; k++) {
          const e = raw[k];
          (raw as unknown[])[k] = undefined; // a chunk's bytes go once its last event is written
          if (batch.length >= 4096) {
            await writer.appendEncoded(stream, batch);
            events += batch.length;
            batch = [];
          }
          if (e.t < since || e.t >= until) continue;
          try {
            if (only) {
              let who: string | null = null;
              for (const segs of bytes!.idSegs) if ((who = readLearner(e.b, e.from, segs)) !== null) break;
              if (!consented(who)) continue;
            }
            eventLeaks.length = 0;
            out.begin();
            rw.rewrite(e.b, e.from, out, found);
            const encoded = out.end();
            batch.push({ offset: e.o, at: e.t, bytes: encoded, learner: readLearner(encoded, 0, bytes!.keySegs) });
            for (const p of eventLeaks) note(p);
            onBytes++;
          } catch (err) {
            if (!(err instanceof NotPlain)) throw err;
            const source = decodeBlock<LoEvent>(e.b.subarray(e.from, e.to));
            if (only && !consented(learnerOfEvent(source))) continue;
            const event = t(source);
            scanner?.scan(event, note);
            batch.push({ offset: e.o, at: e.t, bytes: encodeNormalized(event), learner: writerLearner(event) });
          }
        }
        await writer.appendEncoded(stream, batch);
        events += batch.length;
        continue;
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
    if (!finished) await sink.abort();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ByteRewriters {
  source: BytesDeidentifier | null;
  derived: BytesDeidentifier | null;
  /** The scratch writer's learner key path, and the research filter's learner paths, as keys. */
  keySegs: string[];
  idSegs: string[][];
}

/** The byte path's rewriters, or null where it cannot reproduce the object path (see deidentify-bytes.ts). */
function byteRewriters(text: string, d: Deidentify | undefined, sel: Selection, scanner: IdScanner | undefined): ByteRewriters | null {
  const simple = (path: string): string[] | null => {
    try {
      const segs = parsePath(path);
      return segs.every((s) => typeof s === 'string') ? (segs as string[]) : null;
    } catch {
      return null;
    }
  };
  const paths = learnerPaths(text);
  const keySegs = simple(paths[0]);
  const idSegs = paths.map(simple);
  if (!keySegs || (sel.learners && idSegs.some((s) => !s))) return null;
  const search = scanner ? new ByteIdSearch(scanner.list()) : null;
  const drops = d?.dropFields ?? [];
  const hmacs = d?.key ? d.idFields : [];
  const make = (ids: string[]) => {
    const trie = pathTrie(drops, ids);
    return trie && new BytesDeidentifier(trie, d?.key ?? null, search);
  };
  return { source: make(hmacs), derived: make(d?.key ? [...hmacs, '$.key'] : hmacs), keySegs, idSegs: idSegs as string[][] };
}

