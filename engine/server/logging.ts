// Structured logs (pino, JSON lines on stderr so stdout stays for the human summary): what an operator needs
// to see without flooding under load. Outages are logged once when they start and once when processing
// resumes; reducer failures are summed per reducer and logged at most every 10 s; requests answered with an
// error are logged (4xx at info, 5xx at warn), successful ones only at debug; dashboard refresh intervals are
// logged when overload makes them grow or shrink.
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Server } from '@hapi/hapi';
import type { BatchInfo, Engine } from '../runtime.js';

export type { Logger };

/**
 * JSON lines for machines (piped, collected), readable lines for a person at a terminal (pino-pretty, loaded
 * only then). LOFLOW_LOG_FORMAT=json or pretty overrides the guess.
 */
export function createLogger(level = process.env.LOFLOW_LOG_LEVEL ?? 'info'): Logger {
  const format = process.env.LOFLOW_LOG_FORMAT || (process.stderr.isTTY ? 'pretty' : 'json');
  return pino({ level, base: { service: 'loflow' } }, format === 'pretty' ? prettyStream() : pino.destination({ fd: 2, sync: false }));
}

function prettyStream(): DestinationStream {
  // In this thread (not a transport worker): a terminal's few lines a second need no worker's start-up.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pretty({ destination: 2, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}

export function logEngine(log: Logger, engine: Engine): () => void {
  let outageSince = 0;
  const failures = new Map<string, { n: number; last: string }>();
  const onRetry = (err: unknown) => {
    if (outageSince) return;
    outageSince = Date.now();
    log.warn({ err: err instanceof Error ? err.message : String(err), committed: engine.stats().committedOffset }, 'batch failed: retrying with back-off, nothing accepted is lost');
  };
  const onBatch = (b: BatchInfo) => {
    if (outageSince) {
      log.info({ down_ms: Date.now() - outageSince, committed: b.to }, 'processing resumed');
      outageSince = 0;
    }
    log.debug({ from: b.from, to: b.to, events: b.events, ms: Math.round(b.ms * 10) / 10 }, 'batch committed');
  };
  const onFailure = (f: { reducer: string; error: string }) => {
    const s = failures.get(f.reducer) ?? { n: 0, last: '' };
    s.n++;
    s.last = f.error;
    failures.set(f.reducer, s);
  };
  const timer = setInterval(() => {
    for (const [reducer, s] of failures) log.warn({ reducer, failures: s.n, last_error: s.last }, 'reducer failures (events dead-lettered)');
    failures.clear();
  }, 10_000);
  timer.unref();
  let archiveWarned = 0;
  const onArchiveError = (err: unknown) => {
    if (Date.now() - archiveWarned < 60_000) return;
    archiveWarned = Date.now();
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'archive append failed: raw events stay in the input log and are re-fed after a restart');
  };
  // Another process owns the pipeline now (its lease): this one stopped processing; loud, once.
  const onFenced = (err: Error) => log.error({ err: err.message }, 'fenced: this process no longer owns the pipeline and stopped processing it; restart it once the other owner is gone');
  engine.on('fenced', onFenced);
  engine.on('archive-error', onArchiveError);
  engine.on('retry', onRetry);
  engine.on('batch', onBatch);
  engine.on('failure', onFailure);
  return () => {
    clearInterval(timer);
    engine.off('retry', onRetry);
    engine.off('archive-error', onArchiveError);
    engine.off('fenced', onFenced);
    engine.off('batch', onBatch);
    engine.off('failure', onFailure);
  };
}

export function logRequests(log: Logger, server: Server): void {
  server.events.on('response', (req) => {
    const res = req.response as { statusCode?: number; source?: unknown } | null;
    const code = res?.statusCode ?? 0;
    const entry = { method: req.method, path: req.path, status: code, ms: Date.now() - req.info.received };
    if (code >= 500) log.warn({ ...entry, error: (res?.source as { error?: string } | undefined)?.error }, 'request failed');
    else if (code >= 400) log.info({ ...entry, error: (res?.source as { error?: string } | undefined)?.error }, 'request refused');
    else log.debug(entry, 'request');
  });
}
