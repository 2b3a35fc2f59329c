// A token bucket per client key: `rate` events per second on average, bursts up to `burst`.

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** Take `n` tokens; returns 0 when allowed, else the seconds to wait before retrying. */
  take(key: string, n: number, now = Date.now()): number {
    if (!Number.isFinite(this.rate)) return 0;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (n > this.burst) return Math.ceil(n / this.rate);
    if (b.tokens >= n) {
      b.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil((n - b.tokens) / this.rate));
  }
}
