import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { openArchiveSink } from '../../archive/open.js';
import { demoCrypto } from '../../archive/open-crypto.js';
import type { ThreadCrypto } from '../../archive/thread-protocol.js';
import { lockHolder } from '../../archive/lock.js';
import { AuditLog } from '../audit/audit-log.js';
import { serveAuditDir } from '../audit/dir.js';
import { openCheckpoint } from '../checkpoint/open.js';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import { Engine } from '../runtime.js';
import { identityMethods, type IdentityMethod } from '../server/auth.js';
import { startServer } from '../server/index.js';
import { oidcSettingsFrom } from '../server/oidc-settings.js';
import { openStateStore } from '../state/open.js';
import { dropExpiredStatesAtStart, startServeRetention } from '../retention/serve-retention.js';
import { logTarget } from './retention-command.js';
import { partitionedProblem } from './partitions-gate.js';
import { commonServerOptions } from './server-options.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';
import { stateGate } from './state-gate.js';
import { watchPipeline } from './watch.js';
import { metaProblem, parseRole, runWorkerRole } from './worker-role.js';
import { nodeRoles, serveRoles } from './serve-roles.js';
import { followLogs } from '../runtime/log-follower.js';
import { partitionTag } from '../state/key-layout.js';
import type { RedisStateStore } from '../state/redis-store.js';

const usage = `loflow serve <pipeline.yaml> [options]     (loflow run <pipeline.yaml> is the same)

Runs a pipeline live: HTTP and WebSocket sources accept events, dashboards are served (JSON, SSE,
WebSocket and a web page at /). Stops gracefully on SIGINT/SIGTERM (drains and commits).

Options:
  --role R         all (default: ingest, processing and dashboards in this one process, as npm start) or
                   worker (runs only the partitions it owns: needs --state redis://... or redis-cluster://...,
                   the input log is the partitions' Redis Streams; serves /healthz and /metrics on --port;
                   README "Running on several machines"), or ingest / dashboard / ingest,dashboard (below)
  --port N         port (default 8080; 0 picks a free one)
  --host H         address to bind (default 127.0.0.1)
  --state URL      state store: memory (default) or redis://host:port (env LOFLOW_STATE)
  --checkpoint URL durable checkpoint (env LOFLOW_CHECKPOINT): postgres://... keeps the input log in
                   Postgres and runs each micro-batch as a DBOS workflow; file:DIR (or --log DIR)
                   keeps an fsync'ed log in a folder (embedded: no server needed). Either way every accepted event is durable before it is
                   acknowledged, and a restart after a crash resumes exactly where it stopped.
                   Default: none (in memory: accepted but unprocessed events die with the process)
                   redis keeps the input log as a Redis Stream beside the states (needs --state
                   redis://...; one script commits a batch's states and cursor; see --durability)
  --log DIR        same as --checkpoint file:DIR
  --durability M   with --checkpoint redis (env LOFLOW_DURABILITY): none, local (default: Redis must have
                   appendonly yes), fsync (appendfsync always) or replicated (a replica, and WAIT 1 before
                   every acknowledgement); checked against the Redis settings at start
  --data DIR       data folder for dead letters and the archive (default .loflow)
  --archive DIR    archive folder (default <data>/<pipeline>/archive; used when the pipeline has archive:)
  --audit DIR      audit log folder (default $LOFLOW_AUDIT, else <data>/<pipeline>/audit): every dashboard
                   read and live subscription, allowed or denied, is recorded there (loflow audit)
  --demo-tokens    give every roster teacher the guessable dashboard token demo-<teacher>; refused
                   unless --demo says this server is a demo (npm start has them)
  --demo           this server is a demo (allows --demo-tokens; a new archive is encrypted with a demo
                   master key created in <data>/<pipeline>/demo-master.key)
  --master-key-file F  encrypt the archive (format 3) with this master key (default $LOFLOW_MASTER_KEY_FILE,
                   $LOFLOW_MASTER_KEY, or a KMS module in $LOFLOW_KEY_PROVIDER; none: plaintext archive)
  --keys K         where the archive's data keys live: redis://host:port (hash lf:{<pipeline>}:dek) or a
                   folder (default: the archive folder's keys/)
Teacher sign-in (OpenID Connect; README "Deploying for a school"):
  --oidc-issuer URL     the provider (env LOFLOW_OIDC_ISSUER), e.g. https://accounts.google.com
  --oidc-client-id ID   (env LOFLOW_OIDC_CLIENT_ID); the secret only from env LOFLOW_OIDC_CLIENT_SECRET
  --public-url URL      this server as browsers reach it (env LOFLOW_PUBLIC_URL); the provider's
                        redirect URI is <URL>/auth/callback
  --oidc-domains D,D    email domains that may sign in, or * (env LOFLOW_OIDC_DOMAINS)
  --sessions S          where sign-in sessions live (env LOFLOW_SESSIONS): memory, or redis://... /
                        redis-cluster://... so every node behind a load balancer shares them and a
                        restart signs nobody out (default: the --state Redis when there is one)
  --session-hours N     how long a sign-in lasts (default 8; env LOFLOW_SESSION_HOURS)
Script tokens: <data>/tokens.json (hashed; loflow token create|list|revoke).
  --watch          reload the pipeline file or its roster CSVs when saved: stateless and state-compatible
                   edits are applied live (connections and state kept); state-breaking ones are refused
                   with the plan printed and the running version goes on
  --admin-token T  operator token for loflow tap (GET /v1/tap/:node); also env LOFLOW_ADMIN_TOKEN
  --ws-identity M  WebSocket identity methods, in order, comma-separated, for every websocket source
                   (default: each source's identity: setting, else token,test). token: ?token= from
                   LOFLOW_WS_TOKENS; chromebook: gc-<Google id>; local_storage: ls-<user_tag>
                   (both authenticated when the device's user_tag is in LOFLOW_DEVICE_TAGS); test:
                   trusts the user_id the client claims (development only); guest: a random id
  --ws-require-auth refuse WebSocket students whose identity is only claimed (close 4401)
  --role ingest    a stateless ingest node (validates, appends to the partitions' Redis streams,
                   answers once Redis has them; honours --durability); --role dashboard: serves teachers'
                   dashboards from the states workers commit to Redis; ingest,dashboard: both. Both need
                   --state redis://... or redis-cluster://... (README "Ingest and dashboard nodes")
  --stall-seconds N /healthz answers 503 when the committed offset has not moved for N seconds while
                   events wait (default 30; env LOFLOW_STALL_SECONDS)
  --reset          when the state store holds state of changed reducers (a state-breaking edit):
                   drop their old state and start them empty
  --rebuild        instead, recompute the changed reducers from the archive, then serve
  --rebuild-from P the archive folder or .car file to rebuild from (default: the --archive folder)
Without --reset or --rebuild, a state-breaking edit is refused: the plan is printed, exit code 3.
  --help           this text
Teacher tokens: env LOFLOW_TEACHER_TOKENS="token:teacher,...". Ingest keys: env LOFLOW_API_KEYS="k1,k2"
or a source's api_keys. WebSocket tokens: env LOFLOW_WS_TOKENS="token:user,...".`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run a pipeline live: ingest and dashboards over HTTP/WebSocket',
  usage,
  flags: ['demo-tokens', 'demo', 'reset', 'rebuild', 'watch', 'ws-require-auth'],
  async run({ positionals, options }) {
    if (options['demo-tokens'] === true && options.demo !== true) {
      console.error('loflow serve: --demo-tokens gives every roster teacher a guessable token (demo-<teacher>): refused unless this server is a demo (add --demo). For a school: teacher sign-in (--oidc-issuer) and loflow token create.');
      return 2;
    }
    const oidc = oidcSettingsFrom(options, process.env);
    if (oidc && 'error' in oidc) {
      console.error(`loflow serve: ${oidc.error}`);
      return 2;
    }
    // ingest / dashboard nodes (serve-roles.ts) first; parseRole takes all and worker.
    const role = nodeRoles(options.role) ? { role: 'nodes' as const } : parseRole(options.role);
    if ('error' in role) {
      console.error(`loflow serve: ${role.error}`);
      return 2;
    }
    const pipeline = await loadPipeline(positionals[0]);
    if (!pipeline) return 1;
    if (role.role === 'worker') return runWorkerRole(pipeline, options);
    let wsMethods: IdentityMethod[] | undefined;
    if (typeof options['ws-identity'] === 'string') {
      wsMethods = options['ws-identity'].split(',').map((m) => m.trim()).filter(Boolean) as IdentityMethod[];
      const bad = wsMethods.filter((m) => !identityMethods.includes(m));
      if (bad.length || !wsMethods.length) {
        console.error(`loflow serve: --ws-identity takes ${identityMethods.join(', ')} (comma-separated), not '${options['ws-identity']}'`);
        return 2;
      }
    }
    const roles = nodeRoles(options.role);
    if (roles) return serveRoles(pipeline, roles, { options, oidc: oidc ?? undefined, wsMethods });
    const stallSeconds = Number(options['stall-seconds'] ?? process.env.LOFLOW_STALL_SECONDS ?? 30);
    if (!(stallSeconds > 0)) {
      console.error(`loflow serve: --stall-seconds must be a positive number of seconds, not '${options['stall-seconds'] ?? process.env.LOFLOW_STALL_SECONDS}'`);
      return 2;
    }
    const data = resolve(typeof options.data === 'string' ? options.data : '.loflow');
    const checkpointSpec = typeof options.checkpoint === 'string' ? options.checkpoint : typeof options.log === 'string' ? `file:${options.log}` : process.env.LOFLOW_CHECKPOINT;
    const store = await openStateStore(typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state));
    const partitioned = partitionedProblem(pipeline, { store, archive: !!pipeline.archive, checkpoint: checkpointSpec, checksMeta: true }) ?? (await metaProblem(store, pipeline));
    if (partitioned) {
      await store.close();
      console.error(`loflow serve: ${partitioned}`);
      return 2;
    }
    const archiveDir = typeof options.archive === 'string' ? resolve(options.archive) : join(data, pipeline.name, 'archive');
    // Everything that can refuse the start (another server's archive lock, an unreachable or locked
    // checkpoint) is checked before the state gate: --rebuild and --reset change the state store.
    const holder = pipeline.archive || options.rebuild === true ? lockHolder(archiveDir) : undefined;
    if (holder !== undefined && holder !== process.pid) {
      await store.close();
      console.error(`loflow: the archive ${archiveDir} is in use by process ${holder} (another server of '${pipeline.name}'?); stop it first. Nothing has been changed.`);
      return 1;
    }
    let checkpoint;
    try {
      checkpoint = await openCheckpoint(checkpointSpec, pipeline.name, store, typeof options.durability === 'string' ? options.durability : process.env.LOFLOW_DURABILITY, pipeline.partitions?.count ?? 1);
    } catch (err) {
      await store.close();
      throw err;
    }
    // Encrypted when a master key is configured; a demo makes its own (outside the archive folder).
    let crypto: ThreadCrypto | undefined = { masterKeyFile: typeof options['master-key-file'] === 'string' ? resolve(options['master-key-file']) : undefined, keys: typeof options.keys === 'string' ? options.keys : undefined };
    if (pipeline.archive && options.demo === true && !crypto.masterKeyFile) {
      const d = await demoCrypto(archiveDir, join(data, pipeline.name, 'demo-master.key'));
      crypto = d.crypto && { ...d.crypto, keys: crypto.keys };
      if (d.note) console.log(`loflow: ${d.note}`);
    }
    // The flag is this process's LOFLOW_MASTER_KEY_FILE: --rebuild and the writer thread read the same key.
    if (crypto?.masterKeyFile) process.env.LOFLOW_MASTER_KEY_FILE = crypto.masterKeyFile;
    const refused = await stateGate(store, pipeline, {
      reset: options.reset === true,
      rebuild: options.rebuild === true,
      archive: typeof options['rebuild-from'] === 'string' ? resolve(options['rebuild-from']) : archiveDir,
    });
    if (refused !== null) {
      await checkpoint.log?.close();
      for (const l of checkpoint.logs ?? []) await l.close();
      await store.close();
      return refused;
    }
    const archive = await openArchiveSink(pipeline, archiveDir, { crypto });
    const deadLetters = new FileDeadLetterStore(join(data, pipeline.name, 'deadletters.ndjson'));
    // Retention (README "Retention"): states past their last day go before the engine loads any; the rest
    // of the policy runs now and daily (LOFLOW_RETENTION_NOW: a fixed clock, for tests and previews).
    const fixedNow = process.env.LOFLOW_RETENTION_NOW ? Date.parse(process.env.LOFLOW_RETENTION_NOW) : undefined;
    if (fixedNow !== undefined && !Number.isFinite(fixedNow)) throw new Error(`LOFLOW_RETENTION_NOW must be an ISO time, not '${process.env.LOFLOW_RETENTION_NOW}'`);
    const retentionOpts = { pipeline, store, log: logTarget(checkpointSpec), deadLetters, archiveDir, ...(crypto?.keys ? { keys: crypto.keys } : {}), ...(fixedNow !== undefined ? { now: () => fixedNow } : {}) };
    for (const l of await dropExpiredStatesAtStart(retentionOpts)) console.log(`loflow: ${l.trim()}`);
    const engine = new Engine(pipeline, { store, archive, log: checkpoint.log, partitionLogs: checkpoint.logs, runner: checkpoint.runner, deadLetters, stallMs: stallSeconds * 1000 });
    await engine.start();
    // `loflow erase` without --server refuses while this file names a live process (it would race our batches).
    const pidFile = join(data, pipeline.name, 'serve.pid');
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, String(process.pid));
    // The Redis log also takes what ingest nodes append: follow it (workers are --role worker's).
    const follower = checkpointSpec === 'redis' ? followLogs(engine, (store as RedisStateStore).redis, Array.from({ length: pipeline.partitions?.count ?? 1 }, (_, n) => partitionTag(pipeline.name, n, pipeline.partitions?.count ?? 1))) : undefined;
    const retention = await startServeRetention({ ...retentionOpts, current: () => engine.pipeline });
    await retention?.idle(); // the start's pass is reported before the server says it is live
    const audit = new AuditLog(serveAuditDir(options.audit, data, pipeline.name));
    const serverOptions = await commonServerOptions(options, { oidc, wsMethods, data, pipeline: pipeline.name, stateUrl: typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state) });
    const server = await startServer({ audit, pipeline, engine, ...serverOptions });
    const trusting = [...pipeline.sources.values()].filter((src) => src.kind === 'websocket' && server.auth.identityOf(src.name).includes('test'));
    if (trusting.length) console.log(`loflow: note: websocket source${trusting.length > 1 ? 's' : ''} ${trusting.map((x) => `'${x.name}'`).join(', ')} trust${trusting.length > 1 ? '' : 's'} the student id a client claims (identity method test); for a school, use --ws-identity token (or the source's identity: setting)`);
    const unwatch = options.watch === true ? watchPipeline(resolve(positionals[0]), engine, store) : () => {};
    // Signal handlers go in before the 'live' line: a supervisor may stop us as soon as it reads it.
    const stopped = new Promise<void>((done) => {
      const stop = async () => {
        console.log('loflow: stopping: draining and committing');
        unwatch();
        follower?.stop();
        retention?.stop();
        await server.stop();
        await audit.drain().catch(() => undefined);
        await engine.stop();
        rmSync(pidFile, { force: true });
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    if (oidc) console.log(`loflow: teacher sign-in with ${oidc.issuer} at ${oidc.publicUrl}/auth/login (sessions in ${serverOptions.sessions?.kind ?? 'memory'})`);
    console.log(`loflow: '${pipeline.name}' live at ${server.url} (state: ${store.kind}, checkpoint: ${checkpoint.describe})${options.watch === true ? ', watching the pipeline file and its rosters' : ''}`);
    await stopped;
    return 0;
  },
};

export const runCommand = { ...serveCommand, name: 'run', summary: 'same as serve: run a pipeline with its sources live' };
