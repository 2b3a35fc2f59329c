// POST <source path>: a JSON array or NDJSON batch of events for one http source.
import type { Request, ResponseToolkit, ServerRoute } from '@hapi/hapi';
import type { Engine } from '../runtime.js';
import type { CompiledSource } from '../types.js';
import { tokenOf, type Auth } from './auth.js';
import { isUnavailable } from '../unavailable.js';
import type { Limits } from './limits.js';
import type { RateLimiter } from './rate-limit.js';
import type { Metrics } from './metrics.js';

/** Parse a body as a JSON array, one JSON object, or NDJSON; unparsable NDJSON lines are rejected by index. */
export function parseBatch(text: string): { events: unknown[]; bad: Array<{ index: number; reason: string }> } {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const v = JSON.parse(trimmed);
    if (!Array.isArray(v)) throw new Error('expected a JSON array');
    return { events: v, bad: [] };
  }
  const events: unknown[] = [];
  const bad: Array<{ index: number; reason: string }> = [];
  const lines = trimmed.split('\n').filter((l) => l.trim() !== '');
  lines.forEach((line, i) => {
    try {
      events.push(JSON.parse(line));
    } catch (err) {
      bad.push({ index: i, reason: `not JSON: ${(err as Error).message}` });
      events.push(undefined);
    }
  });
  return { events, bad };
}

export function httpIngestRoute(source: CompiledSource, engine: Engine, auth: Auth, limits: Limits, limiter: RateLimiter, metrics: Metrics): ServerRoute {
  const maxBytes = (source.options.max_body_bytes as number | undefined) ?? limits.maxBodyBytes;
  const maxEvents = (source.options.max_batch_events as number | undefined) ?? limits.maxBatchEvents;
  return {
    method: 'POST',
    path: source.path ?? '/v1/events',
    options: {
      payload: { parse: false, output: 'data', maxBytes, failAction: 'error' },
      // hapi answers 413 itself past maxBytes; the message says which limit.
      ext: {
        onPreResponse: {
          method: (req: Request, h: ResponseToolkit) => {
            const r = req.response as any;
            if (r?.isBoom && r.output.statusCode === 413) {
              return h.response({ error: `body over ${maxBytes} bytes: send smaller batches` }).code(413);
            }
            return h.continue;
          },
        },
      },
    },
    handler: async (req, h) => {
      const keys = auth.sourceKeys(source.name);
      const token = tokenOf(req.headers, req.query);
      if (keys.size > 0) {
        if (!token) return h.response({ error: `source '${source.name}' needs an API key (Authorization: Bearer <key>)` }).code(401);
        if (!keys.has(token)) return h.response({ error: 'unknown API key for this source' }).code(403);
      }
      let parsed;
      try {
        parsed = parseBatch((req.payload as Buffer | undefined)?.toString('utf8') ?? '');
      } catch (err) {
        metrics.rejected.inc({ source: source.name, reason: 'malformed' });
        return h.response({ error: `malformed body: ${(err as Error).message}; send a JSON array or NDJSON` }).code(400);
      }
      if (parsed.events.length > maxEvents) {
        return h.response({ error: `batch of ${parsed.events.length} events is over the limit of ${maxEvents}: split it` }).code(413);
      }
      const wait = limiter.take(token ?? req.info.remoteAddress, parsed.events.length);
      if (wait > 0) return h.response({ error: `rate limit: retry in ${wait} s` }).code(429).header('Retry-After', String(wait));
      const badIdx = new Set(parsed.bad.map((b) => b.index));
      const good = parsed.events.filter((_, i) => !badIdx.has(i));
      const goodIndex = parsed.events.map((_, i) => i).filter((i) => !badIdx.has(i));
      try {
        // An at-least-once sender names itself and the sequence number of the batch's first event, so a
        // re-sent batch is recognised by a log that supports it (the file log) and not processed twice.
        const producerId = req.headers['x-loflow-producer'];
        const seq = Number(req.headers['x-loflow-seq']);
        const producer = typeof producerId === 'string' && Number.isInteger(seq) ? { id: producerId, seq } : undefined;
        const r = await engine.ingest(source.name, good, Date.now(), producer);
        if (parsed.bad.length) await engine.deadLetters.put(parsed.bad.map((b) => ({ stream: source.name, event: null, reason: b.reason, at: Date.now(), stage: 'ingest' })));
        const rejected = [...parsed.bad, ...r.rejected.map((x) => ({ index: goodIndex[x.index], reason: x.reason }))].sort((a, b) => a.index - b.index);
        const warnings = r.warnings.map((x) => ({ index: goodIndex[x.index], reason: x.reason }));
        metrics.eventsIn.inc({ source: source.name }, r.accepted);
        if (rejected.length) metrics.rejected.inc({ source: source.name, reason: 'invalid' }, rejected.length);
        // 200: all accepted; 207: some rejected (each with index and reason); 422: none accepted.
        const code = rejected.length === 0 ? 200 : r.accepted > 0 ? 207 : 422;
        return h.response({ accepted: r.accepted, duplicates: r.duplicates, rejected, warnings }).code(code);
      } catch (err) {
        if (isUnavailable(err)) return h.response({ error: 'state or log store unavailable: nothing was accepted, retry' }).code(503).header('Retry-After', '2');
        throw err;
      }
    },
  };
}
