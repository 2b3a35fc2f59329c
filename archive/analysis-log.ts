// The analysis log ("open science tools to log analyses"): every replay and export appends an entry naming
// the pipeline, input and output CIDs, the engine version and the time, as a DAG-CBOR block linking the
// previous entry (append-only, content-addressed). Its head is the ref <archive>/ANALYSES.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import { version } from '../engine/version.js';
import { CID, decodeBlock, encodeBlock } from './blocks.js';
import type { FolderBlockstore } from './blockstore.js';
import type { AnalysisEntry, PipelineBlock } from './format.js';
import { acquireLock } from './lock.js';

export const ANALYSES_REF = 'ANALYSES';

export interface AnalysisInput {
  command: string;
  /** The pipeline definition (stored as a block, so the entry's link resolves). */
  pipeline: { name: string; text: string };
  input: CID;
  output: CID;
  time?: number;
  /** The audit record of this access (its hash), when there is one (exports). */
  audit?: string;
  /** A research export's consent source and included learners (audit pseudonyms). */
  research?: AnalysisEntry['research'];
}

/** Appends in this process, per folder, one after another (the lock file guards against other processes). */
const queues = new Map<string, Promise<unknown>>();

export function appendAnalysis(store: FolderBlockstore, entry: AnalysisInput): Promise<CID> {
  const run = async () => {
    const release = await lockWithRetry(store.dir);
    try {
      const p = await encodeBlock({ type: 'loflow/pipeline', name: entry.pipeline.name, text: entry.pipeline.text } satisfies PipelineBlock);
      await store.put(p);
      const block = await encodeBlock({
        type: 'loflow/analysis',
        prev: await store.ref(ANALYSES_REF),
        command: entry.command,
        pipeline: p.cid,
        input: entry.input,
        output: entry.output,
        engine: `loflow ${version}`,
        time: entry.time ?? Date.now(),
        ...(entry.audit ? { audit: entry.audit } : {}),
        ...(entry.research ? { research: entry.research } : {}),
      } satisfies AnalysisEntry);
      await store.put(block);
      await store.setRef(ANALYSES_REF, block.cid);
      return block.cid;
    } finally {
      release();
    }
  };
  const p = (queues.get(store.dir) ?? Promise.resolve()).then(run, run);
  queues.set(store.dir, p.catch(() => undefined));
  return p;
}

/** Other processes hold the log's lock for milliseconds: wait for it (up to 10 s). */
async function lockWithRetry(dir: string): Promise<() => void> {
  for (let waited = 0; ; waited += 20) {
    try {
      return acquireLock(dir, { name: 'ANALYSES.lock', exclusive: true });
    } catch (err) {
      if (waited >= 10_000) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The log, newest first, each entry with its own CID. */
export async function listAnalyses(store: FolderBlockstore): Promise<Array<{ cid: CID; entry: AnalysisEntry }>> {
  const out: Array<{ cid: CID; entry: AnalysisEntry }> = [];
  for (let cid = await store.ref(ANALYSES_REF); cid; ) {
    const entry = decodeBlock<AnalysisEntry>(await store.get(cid));
    out.push({ cid, entry });
    cid = entry.prev;
  }
  return out;
}

/** The CID of a file's bytes as one raw block (sha2-256), streamed: the input CID of an NDJSON replay. */
export async function fileCid(file: string): Promise<CID> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return CID.create(1, raw.code, createDigest(sha256.code, new Uint8Array(h.digest())));
}

/** The CID of bytes as one raw block (sha2-256): a consent file as a research export used it. */
export function bytesCid(bytes: Uint8Array): CID {
  return CID.create(1, raw.code, createDigest(sha256.code, new Uint8Array(createHash('sha256').update(bytes).digest())));
}
