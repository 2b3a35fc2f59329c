// Server-side records behind the browser cookies. The session cookie carries only a random id: logging out
// or expiry deletes the record, so an old cookie (copied, or kept by a browser) is worth nothing after.
// Sign-ins in progress are kept the same way, by their OAuth `state`, and can be used once.
import { randomBytes } from 'node:crypto';

/** A Map of records that expire, bounded in count (oldest dropped first: a flood cannot grow memory). */
export class ExpiringMap<V> {
  private readonly items = new Map<string, { value: V; expires: number }>();
  constructor(
    readonly ttlMs: number,
    readonly max: number,
  ) {}

  set(key: string, value: V, ttlMs = this.ttlMs): void {
    this.items.delete(key);
    this.items.set(key, { value, expires: Date.now() + ttlMs });
    this.prune();
  }

  get(key: string): V | undefined {
    const e = this.items.get(key);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.items.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Get and delete: for one-time values (a login's state). */
  take(key: string): V | undefined {
    const v = this.get(key);
    this.items.delete(key);
    return v;
  }

  delete(key: string): void {
    this.items.delete(key);
  }

  get size(): number {
    return this.items.size;
  }

  private prune(): void {
    const now = Date.now();
    // Insertion order is expiry order for a fixed ttl: stop at the first live one.
    for (const [k, e] of this.items) {
      if (this.items.size > this.max || e.expires <= now) this.items.delete(k);
      else break;
    }
  }
}

export interface Session {
  teacher: string;
  email?: string;
  subject: string;
  created: number;
  expires: number;
}

export interface PendingLogin {
  nonce: string;
  codeVerifier: string;
  /** Where to go after signing in: a local path only (checked when the login started). */
  next: string;
}

/**
 * Where sessions and sign-ins in progress are kept. In memory for one server; in Redis (redis-sessions.ts)
 * when several dashboard nodes serve the same teachers or a restart must not sign everyone out.
 */
export interface SessionStore {
  readonly ttlMs: number;
  /** How long a sign-in may take at the provider. */
  readonly pendingTtlMs: number;
  /** Where the store keeps sessions ('memory', 'redis'), for the start line and the README's guarantees. */
  readonly kind: string;
  create(s: Omit<Session, 'created' | 'expires'>): Promise<{ id: string; session: Session }>;
  get(id: unknown): Promise<Session | undefined>;
  end(id: unknown): Promise<void>;
  /** Keeps a sign-in in progress; false when too many are in progress (a flood), so the login is refused. */
  putPending(state: string, p: PendingLogin): Promise<boolean>;
  /** Gets and deletes: a sign-in's state is good once. */
  takePending(state: string): Promise<PendingLogin | undefined>;
  /** The key sealing the session cookie: every node sharing the sessions must seal alike. */
  cookieSecret(): Promise<string>;
  close(): Promise<void>;
}

/** A random session id: 256 bits, URL-safe (it travels only inside the sealed cookie). */
export const newSessionId = () => randomBytes(32).toString('base64url');

/** Session ids are at most this long; anything longer is not ours (no lookup is made for it). */
export const validSessionId = (id: unknown): id is string => typeof id === 'string' && id.length > 0 && id.length <= 100;

export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  private readonly sessions: ExpiringMap<Session>;
  private readonly pending: ExpiringMap<PendingLogin>;
  // Sessions live in this process's memory, so the cookie seal's key may too (a restart signs everyone out).
  private readonly secret = randomBytes(32).toString('hex');

  constructor(
    readonly ttlMs: number,
    maxSessions = 100_000,
    // Ten minutes to get through the provider's sign-in page.
    readonly pendingTtlMs = 10 * 60_000,
  ) {
    this.sessions = new ExpiringMap(ttlMs, maxSessions);
    this.pending = new ExpiringMap(pendingTtlMs, 10_000);
  }

  async create(s: Omit<Session, 'created' | 'expires'>): Promise<{ id: string; session: Session }> {
    const id = newSessionId();
    const now = Date.now();
    const session = { ...s, created: now, expires: now + this.ttlMs };
    this.sessions.set(id, session);
    return { id, session };
  }

  async get(id: unknown): Promise<Session | undefined> {
    return validSessionId(id) ? this.sessions.get(id) : undefined;
  }

  async end(id: unknown): Promise<void> {
    if (typeof id === 'string') this.sessions.delete(id);
  }

  async putPending(state: string, p: PendingLogin): Promise<boolean> {
    // The map drops the oldest beyond its bound: a flood pushes out old sign-ins instead of growing memory.
    this.pending.set(state, p);
    return true;
  }

  async takePending(state: string): Promise<PendingLogin | undefined> {
    return this.pending.take(state);
  }

  async cookieSecret(): Promise<string> {
    return this.secret;
  }

  async close(): Promise<void> {}
}

/** A local path to return to after sign-in; anything else (another host, `//x`, `/\x`, a scheme) is `/`. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 512 || !/^\/(?![/\\])/.test(next) || /[\x00-\x1f\\]/.test(next)) return '/';
  try {
    const u = new URL(next, 'http://local.invalid');
    return u.origin === 'http://local.invalid' ? u.pathname + u.search : '/';
  } catch {
    return '/';
  }
}
