// A store or log outage, as one error shape: the server answers 503 + Retry-After and the engine retries,
// rather than anything being lost.
export function unavailable(service: string, err: unknown): Error {
  return Object.assign(new Error(`${service} unavailable: ${(err as Error).message}`), { code: 'UNAVAILABLE', cause: err });
}

export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'UNAVAILABLE' || /ECONNREFUSED|Connection is closed|unavailable/i.test(e?.message ?? '');
}

/** Ingest refused because too many accepted events wait (a stalled or slow pipeline): the server answers 503 + Retry-After. */
export function backlogFull(waiting: number, limit: number, waitedMs: number): Error {
  return Object.assign(new Error(`ingest backlog full: ${waiting} accepted events wait to be processed (limit ${limit}; waited ${waitedMs} ms for room)`), { code: 'BACKLOG_FULL' });
}

export function isBacklogFull(err: unknown): boolean {
  return (err as { code?: string })?.code === 'BACKLOG_FULL';
}
