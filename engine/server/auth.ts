// Who may do what: ingest keys (per source) send events; teacher tokens read the dashboards of their own
// classes (the roster's `teacher` column). The two never overlap: an ingest key reads no dashboard.
import type { CompiledPipeline, Roster } from '../types.js';

export interface AuthConfig {
  /** token -> teacher id. Also from env LOFLOW_TEACHER_TOKENS="token:teacher,token2:teacher2". */
  teacherTokens?: Record<string, string>;
  /** Ingest API keys for every source, besides each source's own `api_keys`. Env LOFLOW_API_KEYS="k1,k2". */
  apiKeys?: string[];
  /** Roster column naming a class's teacher (default `teacher`). */
  teacherColumn?: string;
  /** WebSocket auth chain, in order (default ['token', 'test']): see README. */
  wsMethods?: Array<'token' | 'test' | 'guest'>;
  /** WebSocket tokens: token -> user id (the `token` method). */
  wsTokens?: Record<string, string>;
  /** User ids refused with {"status": "blocklist"}. */
  blocklist?: string[];
  /** Operator tokens for debugging routes (`/v1/tap`). Also env LOFLOW_ADMIN_TOKEN="t1,t2". None: no tap. */
  adminTokens?: string[];
}

function pairs(env: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of (env ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = p.indexOf(':');
    if (i > 0) out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export class Auth {
  readonly teacherTokens: Record<string, string>;
  readonly apiKeys: Set<string>;
  readonly teacherColumn: string;
  readonly wsMethods: Array<'token' | 'test' | 'guest'>;
  readonly wsTokens: Record<string, string>;
  readonly blocklist: Set<string>;
  readonly adminTokens: Set<string>;

  constructor(
    /** The pipeline in effect (replaced on a live swap). */
    public pipeline: CompiledPipeline,
    config: AuthConfig = {}) {
    this.teacherTokens = { ...pairs(process.env.LOFLOW_TEACHER_TOKENS), ...config.teacherTokens };
    this.apiKeys = new Set([...(process.env.LOFLOW_API_KEYS ?? '').split(',').filter(Boolean), ...(config.apiKeys ?? [])]);
    this.teacherColumn = config.teacherColumn ?? 'teacher';
    this.wsMethods = config.wsMethods ?? ['token', 'test'];
    this.wsTokens = { ...pairs(process.env.LOFLOW_WS_TOKENS), ...config.wsTokens };
    this.blocklist = new Set(config.blocklist ?? []);
    this.adminTokens = new Set([...(process.env.LOFLOW_ADMIN_TOKEN ?? '').split(',').map((t) => t.trim()).filter(Boolean), ...(config.adminTokens ?? [])]);
  }

  /** The ingest keys a source accepts; empty means the source is open (say so in the README). */
  sourceKeys(source: string): Set<string> {
    const own = (this.pipeline.sources.get(source)?.options.api_keys as string[] | undefined) ?? [];
    return new Set([...own, ...this.apiKeys]);
  }

  isAdmin(token: string | undefined): boolean {
    return token !== undefined && this.adminTokens.has(token);
  }

  teacherOf(token: string | undefined): string | undefined {
    return token ? this.teacherTokens[token] : undefined;
  }

  /** The groups (classes) of an aggregation that a teacher may read. */
  classesOf(teacher: string, roster: Roster): string[] {
    return roster.groups().filter((g) => roster.members(g).some((m) => roster.column(m, this.teacherColumn) === teacher));
  }
}

/** `Authorization: Bearer x`, `x-api-key: x`, or `?token=x`. */
export function tokenOf(headers: Record<string, unknown>, query?: Record<string, unknown>): string | undefined {
  const h = headers.authorization;
  if (typeof h === 'string' && h.toLowerCase().startsWith('bearer ')) return h.slice(7).trim();
  if (typeof headers['x-api-key'] === 'string') return headers['x-api-key'];
  if (query && typeof query.token === 'string') return query.token;
  return undefined;
}
