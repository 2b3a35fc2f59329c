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
  /** A WebSocket's events held before it says who the student is (count and bytes): past either, it is closed (1008) and they are dead-lettered. */
  maxEventsBeforeIdentity: number;
  maxBytesBeforeIdentity: number;
  /** Bytes of lock_fields one WebSocket may send in all. */
  maxLockFieldsBytes: number;
  /** A WebSocket's events waiting for the engine: past it the socket is not read until they are in. */
  maxPendingEvents: number;
  /** Unsent bytes a dashboard subscriber may hold before it is skipped (it gets a snapshot once it reads again). */
  subscriberBufferBytes: number;
  /** Student drill-downs open at once on this server (live SSE feeds): past it a new one gets 503. */
  maxDrillDowns: number;
  /** How long an HTTP batch waits for room when the backlog is full before 503 + Retry-After (never forever). */
  queueWaitMs: number;
}

export const defaultLimits: Limits = {
  maxBodyBytes: 5 * 1024 * 1024,
  maxMessageBytes: 256 * 1024,
  maxBatchEvents: 10_000,
  ratePerSec: 20_000,
  rateBurst: 40_000,
  maxEventsBeforeIdentity: 1_000,
  maxBytesBeforeIdentity: 1024 * 1024,
  maxLockFieldsBytes: 64 * 1024,
  maxPendingEvents: 10_000,
  subscriberBufferBytes: 256 * 1024,
  queueWaitMs: 1500,
  maxDrillDowns: 500,
};

