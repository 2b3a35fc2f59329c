// Micro-batches as DBOS durable workflows on Postgres.
//
// Each batch [from, to) of the input log runs as the workflow `loflow.batch(pipeline, from, to)` whose one
// step is Engine.applyBatch: reduce, then commit the states together with the offset `to` to the state
// store. DBOS records the workflow before it runs and the step's result when it is done; if the process dies
// in between, DBOS.launch() on the next start resumes the workflow, and the step runs again. Running it
// again is safe because the state store already holds the offset the batch committed (applyBatch then does
// nothing), or does not (the batch was not applied, so it is applied now): exactly-once effects, with DBOS
// guaranteeing that no started batch is forgotten and the state store's atomic offset guaranteeing that
// none is applied twice.
import { randomUUID } from 'node:crypto';
import { DBOS } from '@dbos-inc/dbos-sdk';
import type { BatchRunner } from '../types.js';
import { version } from '../version.js';

type Applier = { applyBatch(from: number, to: number): Promise<{ applied: number }> };

/** The engines of this process, by pipeline: a resumed workflow finds its engine here. */
const engines = new Map<string, Applier>();

const batchWorkflow = DBOS.registerWorkflow(
  async (pipeline: string, from: number, to: number): Promise<number> => {
    const engine = engines.get(pipeline);
    if (!engine) throw new Error(`no engine for pipeline '${pipeline}' in this process`);
    const r = await DBOS.runStep(() => engine.applyBatch(from, to), { name: 'reduce-and-commit' });
    return r.applied;
  },
  { name: 'loflow.batch' },
);

let launched: Promise<void> | null = null;
let users = 0;

/** Quiet DBOS's own console logging unless asked for (LOFLOW_DBOS_LOG=info). */
const logLevel = process.env.LOFLOW_DBOS_LOG ?? 'error';

export class DbosBatchRunner implements BatchRunner {
  readonly kind = 'dbos';
  /** A per-process nonce: a batch retried after an error, or re-run after a restart, gets a fresh workflow ID. */
  private readonly run_ = randomUUID().slice(0, 8);
  private attempt = 0;
  private pipeline = '';
  /** Batches DBOS resumed after a crash, still to finish: close() waits for them (nothing is left behind). */
  private resuming: Promise<unknown> = Promise.resolve();
  workflows = 0;
  resumed = 0;

  constructor(readonly url: string) {}

  async attach(pipeline: string, engine: Applier): Promise<void> {
    this.pipeline = pipeline;
    engines.set(pipeline, engine);
    users++;
    // DBOS is a process-wide singleton: the first runner launches it (which resumes pending workflows of
    // every registered engine), later ones share it.
    if (!launched) {
      DBOS.setConfig({
        name: 'loflow',
        systemDatabaseUrl: this.url,
        applicationVersion: `loflow-${version}`,
        logLevel,
        systemDatabasePoolSize: 4,
        // DBOS sets it per connection with a query that pg 8 warns about; the server's default is fine here.
        systemDatabaseIdleTransactionTimeoutMs: 0,
      });
      launched = DBOS.launch().catch((err: unknown) => {
        launched = null;
        throw err;
      });
    }
    await launched;
    // DBOS re-enqueues the workflows a dead process left PENDING and runs them from its internal queue; each
    // goes through applyBatch, which does nothing for a batch already committed.
    const left = await DBOS.listWorkflows({ workflowName: 'loflow.batch', workflow_id_prefix: `${pipeline}:`, status: ['PENDING', 'ENQUEUED'], loadInput: false });
    this.resumed = left.length;
    this.resuming = Promise.allSettled(left.map((w) => DBOS.retrieveWorkflow(w.workflowID).getResult()));
  }

  async run(pipeline: string, from: number, to: number): Promise<number> {
    const id = `${pipeline}:${from}-${to}:${this.run_}:${this.attempt++}`;
    const applied = await DBOS.withNextWorkflowID(id, () => batchWorkflow(pipeline, from, to));
    this.workflows++;
    return applied;
  }

  async close(): Promise<void> {
    await this.resuming;
    engines.delete(this.pipeline);
    if (--users === 0 && launched) {
      launched = null;
      await DBOS.shutdown();
    }
  }
}
