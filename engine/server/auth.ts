// Who may do what: ingest keys (per source) send events; teacher tokens read the dashboards of their own
// classes (the roster's `teacher` column). The two never overlap: an ingest key reads no dashboard.
import { listsTeacher } from '../roster/teachers-cell.js';
import type { CompiledPipeline, Roster } from '../types.js';

export interface AuthConfig {
  /** token -> teacher id. Also from env LOFLOW_TEACHER_TOKENS="token:teacher,token2:teacher2". */
  teacherTokens?: Record<string, string>;
  /** Ingest API keys for every source, besides each source's own `api_keys`. Env LOFLOW_API_KEYS="k1,k2". */
  apiKeys?: string[];
  /** Roster column naming a class's teacher (default `teacher`). */
  teacherColumn?: string;
  /** WebSocket identity methods, in order (default: each websocket source's `identity`, else ['token', 'test']): see README. */
  wsMethods?: IdentityMethod[];
  /** Device tags (the extension's local-storage `user_tag`) that make chromebook/local_storage identities authenticated. Also env LOFLOW_DEVICE_TAGS="t1,t2". */
  deviceTags?: string[];
  /** Refuse WebSocket students whose identity is only claimed (not a token or a listed device tag). */
  requireAuthenticated?: boolean;
  /** WebSocket tokens: token -> user id (the `token` method). */
  wsTokens?: Record<string, string>;
  /** User ids refused with {"status": "blocklist"}. */
  blocklist?: string[];
  /** Operator tokens for debugging routes (`/v1/tap`). Also env LOFLOW_ADMIN_TOKEN="t1,t2". None: no tap. */
  adminTokens?: string[];
}

import type { IdentityMethod } from './identity.js';
import type { TokenStore } from './api-tokens.js';
export { identityMethods, type IdentityMethod } from './identity.js';

/** Who reads a dashboard: a teacher, by a token (maybe limited to some classes) or a signed-in session. */
export interface Principal {
  teacher: string;
  via: 'token' | 'session';
  /** A script token's classes: the teacher's classes outside it are refused. */
  scope?: ReadonlySet<string>;
}

/** "a:b,c:d" pairs into a Map: token names are user input, never looked up on a plain object. */
function pairs(env: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of (env ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = p.indexOf(':');
    if (i > 0) out.set(p.slice(0, i), p.slice(i + 1));
  }
  return out;
}

function ownEntries(r: Record<string, string> | undefined): Array<[string, string]> {
  return r ? Object.keys(r).map((k) => [k, r[k]]) : [];
}

export class Auth {
  /** token -> teacher. A Map: a token such as `constructor` or `__proto__` must be just an unknown token. */
  readonly teacherTokens: Map<string, string>;
  readonly apiKeys: Set<string>;
  readonly teacherColumn: string;
  /** Set by the server options; else each source's own `identity` (see identityOf). */
  readonly wsMethods: IdentityMethod[] | undefined;
  readonly wsTokens: Map<string, string>;
  readonly deviceTags: Set<string>;
  private readonly requireAuthenticatedAll: boolean;
  readonly blocklist: Set<string>;
  readonly adminTokens: Set<string>;
  /** Hashed, revocable, class-scoped tokens (`loflow token create`), when the server has a tokens file. */
  tokens?: TokenStore;

  constructor(
    /** The pipeline in effect (replaced on a live swap). */
    public pipeline: CompiledPipeline,
    config: AuthConfig = {}) {
    this.teacherTokens = new Map([...pairs(process.env.LOFLOW_TEACHER_TOKENS), ...ownEntries(config.teacherTokens)]);
    this.apiKeys = new Set([...(process.env.LOFLOW_API_KEYS ?? '').split(',').filter(Boolean), ...(config.apiKeys ?? [])]);
    this.teacherColumn = config.teacherColumn ?? 'teacher';
    this.wsMethods = config.wsMethods;
    this.wsTokens = new Map([...pairs(process.env.LOFLOW_WS_TOKENS), ...ownEntries(config.wsTokens)]);
    this.blocklist = new Set(config.blocklist ?? []);
    this.deviceTags = new Set([...(process.env.LOFLOW_DEVICE_TAGS ?? '').split(',').map((t) => t.trim()).filter(Boolean), ...(config.deviceTags ?? [])]);
    this.requireAuthenticatedAll = config.requireAuthenticated === true;
    this.adminTokens = new Set([...(process.env.LOFLOW_ADMIN_TOKEN ?? '').split(',').map((t) => t.trim()).filter(Boolean), ...(config.adminTokens ?? [])]);
  }

  /** The ingest keys a source accepts; empty means the source is open (say so in the README). */
  sourceKeys(source: string): Set<string> {
    const own = (this.pipeline.sources.get(source)?.options.api_keys as string[] | undefined) ?? [];
    return new Set([...own, ...this.apiKeys]);
  }

  /** The identity methods a websocket source accepts, in order: the server's setting, else the source's `identity`. */
  identityOf(source: string): IdentityMethod[] {
    if (this.wsMethods) return this.wsMethods;
    const own = this.pipeline.sources.get(source)?.options.identity as IdentityMethod[] | undefined;
    return own ?? ['token', 'test'];
  }

  /** Whether a websocket source refuses students who are identified but not authenticated. */
  requiresAuthenticated(source: string): boolean {
    return this.requireAuthenticatedAll || this.pipeline.sources.get(source)?.options.require_authenticated === true;
  }

  isAdmin(token: string | undefined): boolean {
    return token !== undefined && this.adminTokens.has(token);
  }

  teacherOf(token: string | undefined): string | undefined {
    return token ? this.teacherTokens.get(token) : undefined;
  }

  /**
   * The reader of a dashboard request: a presented token decides alone (a wrong token is not rescued by a
   * session cookie); without one, the signed-in teacher's session.
   */
  principalOf(token: string | undefined, session?: { teacher: string }): Principal | undefined {
    if (token) {
      const grant = this.tokens?.lookup(token);
      if (grant) return { teacher: grant.teacher, via: 'token', scope: grant.classes };
      const teacher = this.teacherOf(token);
      return teacher ? { teacher, via: 'token' } : undefined;
    }
    return session ? { teacher: session.teacher, via: 'session' } : undefined;
  }

  /** The groups (classes) of an aggregation that a teacher may read (within a token's scope). */
  classesOf(who: string | Principal, roster: Roster): string[] {
    return roster.groups().filter((g) => this.mayRead(who, roster, g));
  }

  /** Whether a teacher may read one class: that class's members only (a subscribe does not scan the roster). */
  mayRead(who: string | Principal, roster: Roster, group: string): boolean {
    const p: Pick<Principal, 'teacher' | 'scope'> = typeof who === 'string' ? { teacher: who } : who;
    return (!p.scope || p.scope.has(group)) && roster.members(group).some((m) => listsTeacher(roster.column(m, this.teacherColumn), p.teacher));
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
