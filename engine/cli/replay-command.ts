import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { appendAnalysis, fileCid } from '../../archive/analysis-log.js';
import { CID } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { isCidText } from '../../archive/read.js';
import { openArchive } from '../../archive/replay-source.js';
import type { KeyOptions } from '../../archive/open-crypto.js';
import { resultCid } from '../../archive/result-cid.js';
import { readNdjson, unwrap, type NdjsonLine } from '../ndjson.js';
import { parallelNdjson, type ParsedLine } from '../replay/parallel-parse.js';
import { trustSwitch } from '../replay/trusted-sources.js';
import { Engine } from '../runtime.js';
import { openStateStore } from '../state/open.js';
import { partitionedProblem } from './partitions-gate.js';
import type { LoEvent } from '../types.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';
import { Progress } from './progress.js';

const usage = `loflow replay <pipeline.yaml> <events.ndjson | archive.car | commit CID> [options]

Runs every event of the file through the pipeline and prints the final reducer states and
aggregations as JSON. NDJSON: each line is an event for the pipeline's first source, or
{"stream": s, "event": e}, or a line of \`loflow archive learner\` ({stream, offset, at, event}: its
arrival time is kept); lines of streams a reducer emits are skipped (the pipeline makes them again). A .car archive (or a commit CID in the archive folder): its raw source
streams, in their original order; the result's content ID (result CID) is printed too, the same every
time for the same pipeline and archive. Every replay is recorded in the archive folder's analysis log
(pipeline, input and result CIDs, engine version, time): see \`loflow archive log --analyses\`.
Lines that are not JSON or fail the source's schema are counted and reported, never silently dropped.

Options:
  --out FILE        write the JSON result to FILE instead of stdout
  --stream NAME     source for bare events (default: the pipeline's first source)
  --batch N         events per micro-batch (default 4096)
  --threads N       NDJSON: parse and check events in N worker threads while the engine runs on the main
                    thread, in file order (the same result as one thread); auto: the cores, for a file of
                    16 MiB or more. Default 1 (no workers): the main
                    thread still builds every event it runs, so workers save it only the checks and cost a
                    second parse (see README, Benchmarks)
  --state URL       state store: memory (default) or redis://host:port, redis-cluster://h:p,h:p
  --summary         print only counts and the rate, not the states
  --archive DIR     archive folder: commit CIDs and the analysis log (default $LOFLOW_ARCHIVE, else
                    .loflow/<pipeline>/archive)
  --no-log          do not record this replay in the analysis log
  --master-key-file F   an encrypted archive's master key (default $LOFLOW_MASTER_KEY_FILE, $LOFLOW_MASTER_KEY);
                    chunks whose data key is gone (erased, expired) are skipped and counted on stderr
  --keys K          its data keys: redis://host:port (live key store) or a keys folder (default: the
                    archive folder's keys/)
  --help            this text
The rate (events/s) is printed on stderr.`;

export const replayCommand: Command = {
  name: 'replay',
  summary: 'run an NDJSON event file through a pipeline and print the final states',
  usage,
  requires: ['<pipeline.yaml>', '<events.ndjson | archive.car | commit CID>'],
  flags: ['summary', 'no-log'],
  async run({ positionals, options, argv }) {
    const [pipelineFile, input] = positionals;
    const pipeline = await loadPipeline(pipelineFile);
    if (!pipeline) return 1;
    const defaultStream = typeof options.stream === 'string' ? options.stream : [...pipeline.sources.keys()][0];
    if (!pipeline.sources.has(defaultStream)) {
      console.error(`unknown source '${defaultStream}' (sources: ${[...pipeline.sources.keys()].join(', ')})`);
      return 2;
    }
    const batchSize = options.batch ? Number(options.batch) : 4096;
    const archiveFolder = resolve(typeof options.archive === 'string' ? options.archive : process.env.LOFLOW_ARCHIVE ?? join('.loflow', pipeline.name, 'archive'));
    const fromArchive = input.endsWith('.car') || isCidText(input);
    const threads = fromArchive ? 1 : threadCount(options.threads, input);
    if (threads === null) return 2;
    // Threaded: workers run the sources' checks, so the engine skips them for the events that passed there.
    const trust = trustSwitch(pipeline);
    const store = await openStateStore(typeof options.state === 'string' ? options.state : process.env.LOFLOW_STATE);
    const partitioned = partitionedProblem(pipeline, { store });
    if (partitioned) {
      await store.close();
      console.error(`loflow replay: ${partitioned}`);
      return 2;
    }
    const engine = new Engine(threads > 1 ? trust.pipeline : pipeline, { batchSize, queueLimit: batchSize * 8, store });
    await engine.start();
    const progress = new Progress('replay');
    const t0 = performance.now();
    let lines = 0;
    let notJson = 0;
    let rejected = 0;
    let derived = 0;
    const firstErrors: string[] = [];
    let inputCid: CID | undefined;
    const chunks: AsyncIterable<ReplayLine[]> = fromArchive
      ? archiveChunks(input, archiveFolder, [...pipeline.sources.keys()], batchSize, (root) => (inputCid = CID.parse(root)), {
          masterKeyFile: typeof options['master-key-file'] === 'string' ? options['master-key-file'] : undefined,
          keys: typeof options.keys === 'string' ? options.keys : undefined,
        })
      : threads > 1
        ? parallelNdjson(input, { threads, pipelineFile, defaultStream, chunk: batchSize })
        : readNdjson(input, batchSize);
    for await (const chunk of chunks) {
      // Group consecutive lines of one stream (and, from an archive, one arrival time) so each ingest call is
      // one batch. Archived events keep their arrival time: a reducer timed by arrival gets the live run's
      // times, so the result (and its CID) does not depend on when the replay runs.
      let stream = '';
      let at: number | undefined;
      let events: LoEvent[] = [];
      let trusted = true; // every event of the group passed the checks in a worker
      const flushGroup = async () => {
        if (events.length === 0) return;
        trust.trusted = trusted;
        const r = await engine.ingest(stream, events, at).finally(() => (trust.trusted = false));
        rejected += r.rejected.length;
        for (const x of r.rejected.slice(0, 5 - firstErrors.length)) firstErrors.push(`event ${x.index}: ${x.reason}`);
        events = [];
        trusted = true;
      };
      for (const l of chunk) {
        lines++;
        if (l.error) {
          notJson++;
          if (firstErrors.length < 5) firstErrors.push(l.error);
          continue;
        }
        const u = l.stream !== undefined ? { stream: l.stream, event: l.value, at: l.at } : unwrap(l.value, defaultStream);
        // A stream a reducer emits (a learner file has them) is made again by the pipeline: fed, it would count twice.
        if (pipeline.streams.get(u.stream)?.producer) {
          derived++;
          continue;
        }
        const lineAt = l.at ?? u.at;
        if (u.stream !== stream || lineAt !== at) {
          await flushGroup();
          stream = u.stream;
          at = lineAt;
        }
        if (!l.trusted) trusted = false;
        events.push(u.event as LoEvent);
      }
      await flushGroup();
      progress.update(lines);
    }
    await engine.flush();
    const seconds = (performance.now() - t0) / 1000;
    progress.done();
    const stats = engine.stats();
    const result = engine.results();
    await engine.stop();
    const rate = Math.round(stats.processed / seconds);
    console.error(
      `replayed ${stats.processed.toLocaleString('en')} events in ${seconds.toFixed(2)} s: ${rate.toLocaleString('en')} events/s` +
        ` (${rejected} rejected by schema, ${notJson} not JSON, ${stats.failed} reducer failures, ${stats.emitted} derived events)`,
    );
    if (derived) console.error(`  ${derived} events of derived streams skipped: the pipeline makes them again`);
    if (threads > 1) console.error(`  parsed and checked in ${threads} worker threads`);
    for (const e of firstErrors) console.error(`  ${e}`);
    const cid = await resultCid(result);
    console.error(`result CID ${cid}`);
    if (fromArchive) (result as Record<string, unknown>).result_cid = cid;
    if (!options['no-log']) {
      // The analysis log: what was replayed, with which pipeline and engine, and what came out.
      await appendAnalysis(new FolderBlockstore(archiveFolder), {
        command: ['replay', ...argv].join(' '),
        pipeline: { name: pipeline.name, text: pipeline.text },
        input: inputCid ?? (await fileCid(input)),
        output: CID.parse(cid),
      });
    }
    const json = options.summary
      ? JSON.stringify({ events: stats.processed, rejected, notJson, failed: stats.failed, seconds, eventsPerSec: rate })
      : JSON.stringify(result, null, 2);
    if (typeof options.out === 'string') await writeFile(options.out, json + '\n');
    else process.stdout.write(json + '\n');
    return 0;
  },
};

/** A line to replay; `at`: the arrival time an archive kept (NDJSON lines arrive now). */
type ReplayLine = NdjsonLine & ParsedLine & { at?: number };

/** Below this, `--threads auto` parses on the main thread: starting workers (each compiles the pipeline) costs more. */
const threadedFromBytes = 16 << 20;

/** `--threads N` (`auto`: the cores, for a file of 16 MiB or more), default 1; null (after a message) when N is not a count. */
function threadCount(option: string | boolean | undefined, file: string): number | null {
  if (option === undefined) return 1;
  if (option === 'auto') return (statSync(file, { throwIfNoEntry: false })?.size ?? 0) >= threadedFromBytes ? availableParallelism() : 1;
  const n = Number(option);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    console.error(`--threads must be a whole number from 1 to 64, or auto (got '${String(option)}')`);
    return null;
  }
  return n;
}

/** An archive's raw events as NDJSON-like lines ({stream, event}), so both inputs share one loop. */
async function* archiveChunks(input: string, dir: string, sources: string[], size: number, onRoot: (cid: string) => void, keyOptions: KeyOptions): AsyncGenerator<ReplayLine[]> {
  const archive = await openArchive(input, { dir, keyOptions });
  onRoot(archive.rootCid);
  let batch: ReplayLine[] = [];
  let line = 0;
  for await (const e of archive.events(sources)) {
    batch.push({ line: ++line, value: { stream: e.stream, event: e.event }, at: e.at });
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
  // Encrypted archives: chains whose data key is gone were skipped (not an error); say how many and why.
  const u = archive.unreadable();
  if (u.chains.length) {
    console.error(`unreadable: ${u.learners} learner${u.learners === 1 ? '' : 's'} (${u.erased} erased, ${u.keyMissing} key missing)${u.otherChains ? ` and ${u.otherChains} chain${u.otherChains === 1 ? '' : 's'} without a learner (key missing)` : ''}, ${u.events} events skipped`);
  }
}
