// Ingest limits: each answers with a clear status and message (413, 429, ...).
export interface Limits {
  /** Max bytes of one HTTP batch body. */
  maxBodyBytes: number;
  /** Max bytes of one WebSocket message. */
  maxMessageBytes: number;
  /** Max events in one HTTP batch. */
  maxBatchEvents: number;
  /** Events per second per client key (token bucket), and its burst. */
  ratePerSec: number;
  rateBurst: number;
  /** How long an HTTP batch waits for room when the backlog is full before 503 + Retry-After (never forever). */
  queueWaitMs: number;
}

export const defaultLimits: Limits = {
  maxBodyBytes: 5 * 1024 * 1024,
  maxMessageBytes: 256 * 1024,
  maxBatchEvents: 10_000,
  ratePerSec: 20_000,
  rateBurst: 40_000,
  queueWaitMs: 1500,
};

