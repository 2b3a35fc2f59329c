// Health and stats: what /healthz, /metrics and `loflow status` read. Reads the other parts, changes nothing.
import { isUnavailable } from '../unavailable.js';
import type { ArchiveFeed } from './archive-feed.js';
import type { LogConsumer } from './consumer.js';
import type { RuntimeContext } from './context.js';
import type { Ingestor } from './ingestor.js';
import type { EngineStats } from './types.js';

export interface HealthReport {
  ok: boolean;
  error: string | null;
  storeDown: boolean;
  stalledMs: number;
}

export class Health {
  private probing: Promise<string | null> | null = null;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly consumer: LogConsumer,
    private readonly feed: ArchiveFeed,
    private readonly ingestor: Ingestor,
    private readonly stallMs: number,
  ) {}

  /**
   * Not ok, with the reason: while the last batch attempt failed (being retried); when the committed offset
   * has not moved for stallMs while events wait (a stalled pipeline: `stalledMs` says for how long, 0 when
   * not); when the archive stopped. `storeDown`: ingest that asks for it (refuseWhileDown) is refused.
   */
  health(): HealthReport {
    const { committed, logEnd, lastError } = this.consumer;
    const message = (e: unknown) => String((e as Error).message ?? e);
    const idleFor = Date.now() - this.consumer.progressAt;
    const stalledMs = committed < logEnd && idleFor >= this.stallMs ? idleFor : 0;
    const storeDown = lastError !== null && isUnavailable(lastError);
    if (lastError !== null) return { ok: false, error: message(lastError), storeDown, stalledMs };
    if (stalledMs) {
      return { ok: false, error: `stalled: the committed offset ${committed} has not moved for ${Math.round(stalledMs / 1000)} s while ${logEnd - committed} events wait`, storeDown, stalledMs };
    }
    // Processing goes on, but the archive takes nothing more: a restart re-feeds it from the log and the outbox.
    if (this.feed.failure !== null) return { ok: false, error: `archive stopped: ${message(this.feed.failure)}; restart to re-feed it`, storeDown, stalledMs };
    return { ok: true, error: null, storeDown, stalledMs };
  }

  /**
   * health(), and when it knows of no store failure, whether the store answers now (within `timeoutMs`): an
   * idle engine touches no store, so without this a frozen or unreachable store would look healthy. One
   * probe at a time, however many callers.
   */
  async checkHealth(timeoutMs = 1000): Promise<HealthReport> {
    const h = this.health();
    if (h.storeDown || !this.consumer.started) return h;
    this.probing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
      try {
        await Promise.race([this.ctx.store.offset(this.ctx.storeName), late]);
        return null;
      } catch (err) {
        return String((err as Error).message ?? err);
      } finally {
        clearTimeout(timer);
        this.probing = null;
      }
    })();
    const failed = await this.probing;
    return failed === null ? h : { ...h, ok: false, error: `state store not answering: ${failed}`, storeDown: true };
  }

  stats(): EngineStats {
    const { committed, logEnd } = this.consumer;
    return {
      ...this.ctx.counters,
      committedOffset: committed,
      logEnd,
      queueDepth: logEnd - committed,
      unknownMembers: this.ingestor.unknown.size,
      archiveBacklog: this.feed.backlog,
    };
  }
}

/**
 * Health and stats of P partition tasks: not ok while any task is not (its reason; a store down anywhere is
 * down), offsets and depths summed (each partition has its own offsets), counters shared.
 */
export class PartitionedHealth {
  constructor(
    private readonly ctx: RuntimeContext,
    private readonly parts: Health[],
    private readonly ingestor: Ingestor,
    private readonly consumers: LogConsumer[],
  ) {}

  health(): HealthReport {
    const all = this.parts.map((h) => h.health());
    const bad = all.find((h) => !h.ok);
    const storeDown = all.some((h) => h.storeDown);
    const stalledMs = Math.max(...all.map((h) => h.stalledMs));
    return bad ? { ...bad, storeDown, stalledMs } : { ok: true, error: null, storeDown, stalledMs };
  }

  /** One probe of the store (all partitions share it), merged into health(). */
  async checkHealth(timeoutMs = 1000): Promise<HealthReport> {
    const probed = await this.parts[0].checkHealth(timeoutMs);
    const h = this.health();
    return probed.storeDown && !h.storeDown ? { ...h, ok: false, error: probed.error, storeDown: true } : h;
  }

  stats(): EngineStats {
    let committed = 0;
    let logEnd = 0;
    for (const c of this.consumers) {
      committed += c.committed;
      logEnd += c.logEnd;
    }
    let archiveBacklog = 0;
    for (const h of this.parts) archiveBacklog += h.stats().archiveBacklog;
    return { ...this.ctx.counters, committedOffset: committed, logEnd, queueDepth: logEnd - committed, unknownMembers: this.ingestor.unknown.size, archiveBacklog };
  }
}
