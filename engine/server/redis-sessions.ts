// Sessions in Redis: every dashboard node behind a load balancer sees the same sign-ins, and a restart
// signs nobody out. Keys hold a hash of the session id (a Redis dump or MONITOR does not hand out live
// sessions), expire with the session, and sign-ins in progress are taken with GETDEL (good once, on any node).
import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { newSessionId, validSessionId, type PendingLogin, type Session, type SessionStore } from './sessions.js';

/** Sign-ins in progress allowed per minute across all nodes (a flood of /auth/login cannot fill Redis). */
const PENDING_PER_MINUTE = 10_000;

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  private secret: Promise<string> | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly ttlMs: number,
    /** Key prefix: one per deployment sharing a Redis (the pipeline's name). */
    private readonly prefix: string,
    readonly pendingTtlMs = 10 * 60_000,
    private readonly onClose: () => Promise<void> = async () => {},
    private readonly pendingPerMinute = PENDING_PER_MINUTE,
  ) {}

  private key(kind: string, id: string): string {
    return `lf:${this.prefix}:${kind}:${hash(id)}`;
  }

  async create(s: Omit<Session, 'created' | 'expires'>): Promise<{ id: string; session: Session }> {
    const id = newSessionId();
    const now = Date.now();
    const session = { ...s, created: now, expires: now + this.ttlMs };
    await this.redis.set(this.key('sess', id), JSON.stringify(session), 'PX', this.ttlMs);
    return { id, session };
  }

  async get(id: unknown): Promise<Session | undefined> {
    if (!validSessionId(id)) return undefined;
    const v = await this.redis.get(this.key('sess', id));
    if (v === null) return undefined;
    const s = JSON.parse(v) as Session;
    return s.expires > Date.now() ? s : undefined;
  }

  async end(id: unknown): Promise<void> {
    if (validSessionId(id)) await this.redis.del(this.key('sess', id));
  }

  async putPending(state: string, p: PendingLogin): Promise<boolean> {
    const minute = `lf:${this.prefix}:logins:${Math.floor(Date.now() / 60_000)}`;
    const [[, n]] = (await this.redis.multi().incr(minute).pexpire(minute, 120_000).exec()) as [[Error | null, number]];
    if (n > this.pendingPerMinute) return false;
    await this.redis.set(this.key('login', state), JSON.stringify(p), 'PX', this.pendingTtlMs);
    return true;
  }

  async takePending(state: string): Promise<PendingLogin | undefined> {
    const v = (await this.redis.call('GETDEL', this.key('login', state))) as string | null;
    return v === null ? undefined : (JSON.parse(v) as PendingLogin);
  }

  cookieSecret(): Promise<string> {
    // The first node to start makes the secret; SET NX keeps it, so every node seals cookies alike.
    this.secret ??= (async () => {
      const key = `lf:${this.prefix}:cookie-secret`;
      await this.redis.set(key, randomBytes(32).toString('hex'), 'NX');
      const s = await this.redis.get(key);
      if (!s) throw new Error(`the session cookie secret ${key} could not be read from Redis`);
      return s;
    })();
    return this.secret;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
