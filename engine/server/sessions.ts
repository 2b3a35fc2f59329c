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

export class SessionStore {
  private readonly sessions: ExpiringMap<Session>;
  readonly pending: ExpiringMap<PendingLogin>;

  constructor(
    readonly ttlMs: number,
    maxSessions = 100_000,
  ) {
    this.sessions = new ExpiringMap(ttlMs, maxSessions);
    // Ten minutes to get through the provider's sign-in page.
    this.pending = new ExpiringMap(10 * 60_000, 10_000);
  }

  create(s: Omit<Session, 'created' | 'expires'>): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    const session = { ...s, created: now, expires: now + this.ttlMs };
    this.sessions.set(id, session);
    return { id, session };
  }

  get(id: unknown): Session | undefined {
    return typeof id === 'string' && id.length <= 100 ? this.sessions.get(id) : undefined;
  }

  end(id: unknown): void {
    if (typeof id === 'string') this.sessions.delete(id);
  }
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
