// `loflow serve --role ingest|dashboard|ingest,dashboard` (docs/scale-out.md §4, §7): nodes that run no
// partition task. Both need the pipeline's Redis (--state redis://... or redis-cluster://...): an ingest
// node appends to the partitions' input streams, a dashboard node reads the states workers commit and the
// `chg` streams that say which changed. `--role all` (the default) and `worker` are serve-command's.
import { join, resolve } from 'node:path';
import { AuditLog } from '../audit/audit-log.js';
import { serveAuditDir } from '../audit/dir.js';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import type { IdentityMethod } from '../server/auth.js';
import { startServer } from '../server/index.js';
import { commonServerOptions } from './server-options.js';
import type { OidcSettings } from '../server/oidc-settings.js';
import { DashboardNode } from '../server/roles/dashboard-node.js';
import { DEFAULT_MAX_IN_FLIGHT, IngestNode } from '../server/roles/ingest-node.js';
import { checkDurability, parseDurability } from '../state/durability.js';
import { openStateStore } from '../state/open.js';
import type { RedisStateStore } from '../state/redis-store.js';
import type { CompiledPipeline } from '../types.js';

export type NodeRoles = { ingest: boolean; dashboards: boolean };

/** The roles this module serves, or null when `--role` names another (worker, all: serve-command's own). */
export function nodeRoles(role: unknown): NodeRoles | null {
  if (typeof role !== 'string') return null;
  const parts = role.split(',').map((r) => r.trim());
  if (parts.some((r) => r !== 'ingest' && r !== 'dashboard')) return null;
  return { ingest: parts.includes('ingest'), dashboards: parts.includes('dashboard') };
}

export interface RoleServeOptions {
  options: Record<string, string | boolean | undefined>;
  oidc?: OidcSettings;
  wsMethods?: IdentityMethod[];
}

export async function serveRoles(pipeline: CompiledPipeline, roles: NodeRoles, { options, oidc, wsMethods }: RoleServeOptions): Promise<number> {
  const url = typeof options.state === 'string' ? options.state : (process.env.LOFLOW_STATE ?? pipeline.spec.state);
  if (typeof url !== 'string' || !/^rediss?:\/\/|^redis-cluster:\/\//.test(url)) {
    console.error(`loflow serve: --role ${options.role} works on the pipeline's Redis: give --state redis://host:port or redis-cluster://host:port,... (the same as the workers')`);
    return 2;
  }
  if (options.watch === true || options.reset === true || options.rebuild === true) {
    console.error(`loflow serve: --role ${options.role} takes no --watch, --reset or --rebuild (workers own the states; restart role nodes with the new pipeline file)`);
    return 2;
  }
  const store = (await openStateStore(url)) as RedisStateStore;
  const data = resolve(typeof options.data === 'string' ? options.data : '.loflow');
  const deadLetters = new FileDeadLetterStore(join(data, pipeline.name, 'deadletters.ndjson'));
  let ingest: IngestNode | undefined;
  let dashboard: DashboardNode | undefined;
  try {
    if (roles.ingest) {
      const durability = parseDurability(typeof options.durability === 'string' ? options.durability : process.env.LOFLOW_DURABILITY);
      const note = await checkDurability(store.redis, durability);
      if (note) console.log(`loflow: note: ${note}`);
      const max = Number(process.env.LOFLOW_INGEST_MAX_IN_FLIGHT ?? DEFAULT_MAX_IN_FLIGHT);
      ingest = new IngestNode(pipeline, store, deadLetters, { redis: store.redis, durability, maxInFlight: max > 0 ? max : DEFAULT_MAX_IN_FLIGHT });
    }
    if (roles.dashboards) dashboard = await DashboardNode.open(pipeline, store, deadLetters, { ingest });
  } catch (err) {
    await store.close();
    throw err;
  }
  const node = dashboard ?? ingest!;
  const audit = new AuditLog(serveAuditDir(options.audit, data, pipeline.name));
  const server = await startServer({
    audit,
    pipeline,
    engine: node.asEngine(),
    serves: roles,
    ...(await commonServerOptions(options, { oidc, wsMethods, data, pipeline: pipeline.name, stateUrl: url })),
  });
  const stopped = new Promise<void>((done) => {
    const stop = async () => {
      console.log('loflow: stopping');
      await server.stop();
      await audit.drain().catch(() => undefined);
      await dashboard?.stop();
      await ingest?.stop();
      await store.close();
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const what = [roles.ingest ? 'ingest' : '', roles.dashboards ? 'dashboard' : ''].filter(Boolean).join(' + ');
  console.log(`loflow: '${pipeline.name}' ${what} node live at ${server.url} (state: ${store.kind}, partitions: ${pipeline.partitions?.count ?? 1})`);
  await stopped;
  return 0;
}
