// A store or log outage, as one error shape: the server answers 503 + Retry-After and the engine retries,
// rather than anything being lost.
export function unavailable(service: string, err: unknown): Error {
  return Object.assign(new Error(`${service} unavailable: ${(err as Error).message}`), { code: 'UNAVAILABLE', cause: err });
}

export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'UNAVAILABLE' || /ECONNREFUSED|Connection is closed|unavailable/i.test(e?.message ?? '');
}
