// A token bucket per client key: `rate` events per second on average, bursts up to `burst`. Keys must be
// verified identities or addresses (never a token the client merely sent). Buckets are bounded: a bucket that
// has refilled to `burst` is the same as none and is dropped, and past `maxKeys` the least recently used go.

export class RateLimiter {
  /** Insertion order = least recently used first (a touched bucket is moved to the end). */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sweptAt = 0;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Take `n` tokens; returns 0 when allowed, else the seconds to wait before retrying. */
  take(key: string, n: number, now = Date.now()): number {
    if (!Number.isFinite(this.rate)) return 0;
    this.bound(now);
    let b = this.buckets.get(key);
    if (b) this.buckets.delete(key);
    else b = { tokens: this.burst, at: now };
    this.buckets.set(key, b);
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (n > this.burst) return Math.ceil(n / this.rate);
    if (b.tokens >= n) {
      b.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil((n - b.tokens) / this.rate));
  }

  get size(): number {
    return this.buckets.size;
  }

  private bound(now: number): void {
    // Full buckets are forgotten at most once a second (a sweep walks every bucket).
    if (now - this.sweptAt >= 1000) {
      this.sweptAt = now;
      for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(k);
    }
    // Still full: the least recently used go (the oldest in the Map's order), leaving room for one more.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(k);
    }
  }
}
