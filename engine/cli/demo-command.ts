import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compilePipeline, formatError } from '../compiler.js';
import { openArchiveSink } from '../../archive/open.js';
import { demoCrypto } from '../../archive/open-crypto.js';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import { Classroom, clientTime, rosterCsv } from '../classroom.js';
import { packageRoot } from '../paths.js';
import { Engine, type AggregateResult } from '../runtime.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';


const usage = `npm start -- [options]      (or: loflow demo [options])

Runs the demo pipeline (pipelines/writing-observer.yaml) on the embedded defaults (in-memory state,
local archive) against a deterministic synthetic classroom, serves the live dashboard and prints a
per-class overview until stopped (Ctrl-C).

Options:
  --students N     students typing (default 40)
  --classes N      classes to spread them over (default: the demo roster's 4 classes of 50; with
                   --classes, or more than 200 students, a roster is generated in .loflow/)
  --speed X        simulated seconds per real second (default 1: students type in real time,
                   about 4 events/s each with pauses and idle gaps)
  --rate N         instead of --speed: aim at about N events per second in total
  --duration S     stop after S seconds (default: run until Ctrl-C)
  --seed N         random seed of the classroom (default 1)
  --port N         dashboard port (default $PORT or 8080, or a free port when that is taken; 0 picks a
                   free port)
  --no-server      do not serve the dashboard; print the overview only
  --pipeline FILE  another pipeline (default pipelines/writing-observer.yaml)
  --help           this text`;

type Server = { url: string; stop(): Promise<void> };

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the demo pipeline on a synthetic classroom with a live dashboard (npm start)',
  usage,
  flags: ['no-server'],
  async run({ options }) {
    const students = Math.max(1, Number(options.students ?? 40));
    // About 10.5 events/s per typing student (keydown, keypress and keyup of each key, plus saves): --rate picks
    // the speed for a total.
    const speed = options.rate !== undefined ? Math.max(0.01, Number(options.rate) / (students * 10.5)) : Math.max(0.01, Number(options.speed ?? 1));
    const duration = options.duration ? Number(options.duration) : Infinity;
    const pipelineFile = typeof options.pipeline === 'string' ? options.pipeline : resolve(packageRoot, 'pipelines/writing-observer.yaml');
    let pipeline;
    if (options.classes !== undefined || students > 200) {
      // A generated roster (student, class, teacher, name) of this size, used in place of the demo's.
      const classes = Math.max(1, Number(options.classes ?? Math.ceil(students / 50)));
      const roster = resolve('.loflow', `demo-roster-${students}-${classes}.csv`);
      mkdirSync(dirname(roster), { recursive: true });
      writeFileSync(roster, rosterCsv(students, classes));
      const text = readFileSync(pipelineFile, 'utf8').replace('rosters/demo.csv', roster);
      const r = await compilePipeline(text, resolve(pipelineFile));
      for (const e of r.errors) console.error(formatError(e));
      pipeline = r.pipeline;
    } else pipeline = await loadPipeline(pipelineFile);
    if (!pipeline) return 1;
    // The embedded defaults: in-memory state and input log; dead letters and the archive in .loflow/.
    const data = resolve('.loflow', pipeline.name);
    const d = pipeline.archive ? await demoCrypto(join(data, 'archive'), join(data, 'demo-master.key')) : { note: '' };
    if (d.note) console.log(`loflow: ${d.note}`);
    const archive = await openArchiveSink(pipeline, join(data, 'archive'), { crypto: d.crypto });
    const engine = new Engine(pipeline, { archive, deadLetters: new FileDeadLetterStore(join(data, 'deadletters.ndjson')) });
    await engine.start();

    let server: Server | undefined;
    if (!options['no-server']) server = await startDashboard(pipeline, engine, options.port === undefined ? undefined : Number(options.port));
    const stream = [...pipeline.sources.keys()][0];
    const classroom = new Classroom({ students, seed: Number(options.seed ?? 1), start: Date.now(), stream });
    const events = classroom.events();

    // Feed in event-time order, paced by the wall clock: an event is sent when its simulated time is due,
    // so pauses and idle gaps are real (scaled by --speed). Event times stay the simulated ones.
    const t0 = Date.now();
    let pending = events.next().value!;
    let fed = 0;
    let stopping = false;
    const stop = () => {
      stopping = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const printer = setInterval(() => printOverview(engine, fed), 2000);
    try {
      while (!stopping && (Date.now() - t0) / 1000 < duration) {
        const simNow = t0 + (Date.now() - t0) * speed;
        const batch = [];
        while ((clientTime(pending.event) ?? 0) <= simNow) {
          batch.push(pending.event);
          pending = events.next().value!;
        }
        if (batch.length) {
          await engine.ingest(stream, batch);
          fed += batch.length;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      clearInterval(printer);
      await engine.flush();
      printOverview(engine, fed);
      await server?.stop();
      await engine.stop();
      if (archive) console.log(`archive: ${join(data, 'archive')} (loflow archive log --dir ${join(data, 'archive')})`);
    }
    return 0;
  },
};


/** The demo's usual port: $PORT (as many dev servers read it), else 8080. */
const defaultPort = Number(process.env.PORT) || 8080;

/**
 * The dashboard on --port, or $PORT or 8080. 8080 taken (another demo, a dev server): a free port instead, said
 * plainly; a --port given and taken, or any other failure: the demo stops (a demo without its dashboard
 * is not what `npm start` promised).
 */
async function startDashboard(pipeline: import('../types.js').CompiledPipeline, engine: Engine, port: number | undefined): Promise<Server | undefined> {
  // The server module is optional at build time (it is a separate part); load it by path.
  const path = '../server/index.js';
  const mod = (await import(path)) as { startServer?: (o: Record<string, unknown>) => Promise<Server> };
  if (!mod.startServer) return undefined;
  process.env.LOFLOW_LOG_LEVEL ??= 'warn'; // the demo's terminal is for the class overview
  let s: Server;
  try {
    s = await mod.startServer({ pipeline, engine, port: port ?? defaultPort, demo: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new Error(`dashboard server not started: ${(err as Error).message}`);
    if (port !== undefined) throw new Error(`port ${port} is in use: choose another with --port N (npm start -- --port N), or --port 0 for a free one`);
    s = await mod.startServer({ pipeline, engine, port: 0, demo: true });
    console.log(`port ${defaultPort} is in use: the dashboard is on a free port instead (choose one with --port N: npm start -- --port N)`);
  }
  const roster = [...pipeline.rosters.values()][0];
  const teacher = roster?.column(roster.members(roster.groups()[0])[0] ?? '', 'teacher');
  console.log(`\nloflow demo: dashboard at ${s.url}/?token=demo-${teacher}  (every roster teacher T has the token demo-T)\n`);
  return s;
}

function printOverview(engine: Engine, fed: number): void {
  const lines: string[] = [];
  const s = engine.stats();
  lines.push(`events fed ${fed}, processed ${s.processed}, rejected ${s.rejected}, reducer failures ${s.failed}, derived ${s.emitted}`);
  for (const name of engine.pipeline.aggregations.keys()) {
    for (const group of engine.groups(name)) {
      const a: AggregateResult = engine.aggregate(name, group);
      const summary = Object.entries(a.summary)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : JSON.stringify(v)}`)
        .join('  ');
      lines.push(`  ${name} ${group.padEnd(8)} ${summary}`);
    }
  }
  console.log(lines.join('\n'));
}
