// `serve` applies the retention policy by itself: once at start and then every day. The timer is unref'd
// (it never keeps a stopping process alive), a pass never overlaps the previous one, and a failed pass is
// reported and retried at the next tick. The clock is injected, so a test can run passes at any date.
import type { RetentionReport } from './run.js';

export const DAY_MS = 86_400_000;

export interface RetentionScheduleOptions {
  /** One pass at `now`. */
  run: (now: number) => Promise<RetentionReport>;
  now?: () => number;
  everyMs?: number;
  onReport?: (r: RetentionReport) => void;
  onError?: (err: unknown) => void;
}

export interface RetentionSchedule {
  /** Resolves when the pass in flight (if any) is done. */
  idle(): Promise<void>;
  stop(): void;
}

export function scheduleRetention(opts: RetentionScheduleOptions): RetentionSchedule {
  const now = opts.now ?? Date.now;
  const every = opts.everyMs ?? DAY_MS;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  const tick = () => {
    inFlight = opts
      .run(now())
      .then(opts.onReport ?? (() => undefined), opts.onError ?? (() => undefined))
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(tick, every);
        timer.unref();
      });
  };
  tick();
  return {
    idle: () => inFlight,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
