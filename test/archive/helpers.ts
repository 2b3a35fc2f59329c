// Shared by the archive tests: a real archived run of the demo pipeline, a replay of a CAR through the real
// Engine, and the real CLI binary (bin/loflow.js -> dist/, built before the tests run).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compilePipeline, compilePipelineFile } from '../../engine/compiler.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent } from '../../engine/types.js';
import { ArchiveWriter, type WriterCrypto } from '../../archive/writer.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { openArchive, type ArchiveKeys } from '../../archive/replay-source.js';
import { resultCid } from '../../archive/result-cid.js';

export const root = join(import.meta.dirname, '../..');
export const demoFile = join(root, 'pipelines/writing-observer.yaml');
const bin = join(root, 'bin/loflow.js');

export function tmp(prefix = 'loflow-archive-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function demo(file = demoFile): Promise<CompiledPipeline> {
  const { pipeline, errors } = await compilePipelineFile(file);
  if (!pipeline) throw new Error(errors.map((e) => e.message).join('\n'));
  return pipeline;
}

/** The demo pipeline on `count` partitions by student (every reducer local). */
export async function demoOn(count: number): Promise<CompiledPipeline> {
  const text = readFileSync(demoFile, 'utf8') + `\npartitions:\n  count: ${count}\n  by: student\n`;
  const { pipeline, errors } = await compilePipeline(text, demoFile);
  if (!pipeline) throw new Error(errors.map((e) => e.message).join('\n'));
  return pipeline;
}

export async function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [bin, ...args], { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err: any) {
    return { code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string };
  }
}

export interface ArchivedRun {
  dir: string;
  pipeline: CompiledPipeline;
  /** What was ingested: stream, event, and the arrival time it was given. */
  sent: Array<{ stream: string; event: LoEvent; at: number }>;
  commits: string[];
  live: ReturnType<Engine['results']>;
}

/**
 * Archive a live run of the demo pipeline: `batches` batches of `perBatch` Classroom events, every third
 * batch to the `batch` source and the rest to `extension`, batch k arriving at time (k + 1) * 1000 ms.
 */
export async function archivedRun(
  opts: { batches?: number; perBatch?: number; students?: number; commitEvery?: number; chunkEvents?: number; dir?: string; crypto?: WriterCrypto; events?: LoEvent[]; keepOpen?: boolean } = {},
): Promise<ArchivedRun & { writer: ArchiveWriter; engine: Engine }> {
  const { batches = 8, perBatch = 250, students = 12, commitEvery = 3, chunkEvents = 100 } = opts;
  const dir = opts.dir ?? join(tmp(), 'archive');
  const pipeline = await demo();
  const writer = await ArchiveWriter.open(dir, { name: pipeline.name, text: pipeline.text, sources: pipeline.sources.keys() }, chunkEvents, { crypto: opts.crypto });
  const engine = new Engine(pipeline, { archive: writer, batchSize: 128 });
  const events = opts.events ?? [...new Classroom({ students, seed: 7 }).events(batches * perBatch)].map((e) => e.event as LoEvent);
  const sent: ArchivedRun['sent'] = [];
  const commits: string[] = [];
  for (let k = 0; k < batches; k++) {
    const stream = k % 3 === 2 ? 'batch' : 'extension';
    const at = (k + 1) * 1000;
    const batch = events.slice(k * perBatch, (k + 1) * perBatch);
    await engine.ingest(stream, batch, at);
    await engine.flush();
    for (const event of batch) sent.push({ stream, event, at });
    if ((k + 1) % commitEvery === 0) commits.push(await writer.commit());
  }
  const live = engine.results();
  if (!opts.keepOpen) {
    await engine.stop(); // commits the rest and closes the writer
    commits.push((await new FolderBlockstore(dir).head())!.toString());
  }
  return { dir, pipeline, sent, commits, live, writer, engine };
}

/** Replay an archive's raw source streams through a fresh Engine; the result and its CID. */
export async function replay(input: string, pipeline: CompiledPipeline, opts: { dir?: string; keys?: ArchiveKeys } = {}) {
  const engine = new Engine(pipeline, { batchSize: 128 });
  const archive = await openArchive(input, opts);
  let stream = '';
  let batch: LoEvent[] = [];
  let at = 0;
  const flush = async () => {
    if (batch.length) await engine.ingest(stream, batch, at);
    batch = [];
  };
  for await (const e of archive.events([...pipeline.sources.keys()])) {
    if (e.stream !== stream || e.at !== at || batch.length >= 500) await flush();
    stream = e.stream;
    at = e.at;
    batch.push(e.event);
  }
  await flush();
  await engine.flush();
  const results = engine.results();
  await engine.stop();
  return { results, cid: await resultCid(results), archive };
}

/** Feed `sent` events straight into a fresh Engine (the reference a replay must match). */
export async function direct(pipeline: CompiledPipeline, sent: ArchivedRun['sent']) {
  const engine = new Engine(pipeline, { batchSize: 128 });
  let i = 0;
  while (i < sent.length) {
    let j = i;
    while (j < sent.length && j - i < 500 && sent[j].stream === sent[i].stream && sent[j].at === sent[i].at) j++;
    await engine.ingest(sent[i].stream, sent.slice(i, j).map((s) => s.event), sent[i].at);
    i = j;
  }
  await engine.flush();
  const results = engine.results();
  await engine.stop();
  return results;
}

/** Every file under `dir`, concatenated (to grep the bytes loflow wrote). */
export function allBytes(dir: string): Buffer {
  const out: Buffer[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(readFileSync(p));
    }
  };
  walk(dir);
  return Buffer.concat(out);
}

