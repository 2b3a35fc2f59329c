// POST <source path>: a JSON array or NDJSON batch of events for one http source.
import type { Request, ResponseToolkit, ServerRoute } from '@hapi/hapi';
import type { Engine } from '../runtime.js';
import type { CompiledSource, DeadLetter } from '../types.js';
import { tokenOf, type Auth } from './auth.js';
import { isBacklogFull, isUnavailable } from '../unavailable.js';
import type { Limits } from './limits.js';
import type { RateLimiter } from './rate-limit.js';
import type { Metrics } from './metrics.js';
import { arrayElementSpans } from '../json-spans.js';
import { dropRawJson, keepRawJson, wantsRawJson } from '../log/raw-json.js';

/**
 * Parse a body as a JSON array, one JSON object, or NDJSON; unparsable NDJSON lines are rejected by index.
 * With `takes` > 0 (how many consumers take it), each event object's own text is remembered
 * (engine/log/raw-json.ts) for a log or archive that writes it as is instead of stringifying the event again.
 */
export function parseBatch(text: string, takes = 0): { events: unknown[]; bad: Array<{ index: number; reason: string; line: string }> } {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const v = JSON.parse(trimmed);
    if (!Array.isArray(v)) throw new Error('expected a JSON array');
    // A body over several lines (pretty-printed) is stringified again by the log: its elements are not lines.
    if (takes > 0 && trimmed.indexOf('\n') === -1) keepElementTexts(trimmed, v, takes);
    return { events: v, bad: [] };
  }
  const events: unknown[] = [];
  const bad: Array<{ index: number; reason: string; line: string }> = [];
  // Lines found with indexOf, not split + filter: this runs for every NDJSON request.
  for (let from = 0; from <= trimmed.length; ) {
    let nl = trimmed.indexOf('\n', from);
    if (nl === -1) nl = trimmed.length;
    const line = trimmed.slice(from, nl);
    from = nl + 1;
    if (line.trim() === '') continue; // blank lines are skipped and not counted
    try {
      const event: unknown = JSON.parse(line);
      if (takes > 0 && isObjectText(line) && event !== null && typeof event === 'object') keepRawJson(event, line, takes);
      events.push(event);
    } catch (err) {
      // The line itself is kept for the dead letter (bounded: a dead letter is no place for megabytes).
      bad.push({ index: events.length, reason: `not JSON: ${(err as Error).message}`, line: line.slice(0, maxRawChars) });
      events.push(undefined);
    }
  }
  return { events, bad };
}

/** Characters of an unparsable line or body kept in its dead letter. */
export const maxRawChars = 10_000;

/** Remember each object element's text; nothing when the spans do not match the parsed array. */
function keepElementTexts(text: string, events: unknown[], takes: number): void {
  const spans = arrayElementSpans(text);
  if (!spans || spans.length !== 2 * events.length) return;
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    if (event === null || typeof event !== 'object') continue;
    const json = text.slice(spans[2 * i], spans[2 * i + 1]);
    if (isObjectText(json)) keepRawJson(event, json, takes);
  }
}

/** Starts with '{' and ends with '}' (no surrounding whitespace or CR to carry into the log). */
function isObjectText(t: string): boolean {
  return t.charCodeAt(0) === 123 && t.charCodeAt(t.length - 1) === 125;
}

export function httpIngestRoute(source: CompiledSource, engine: Engine, auth: Auth, limits: Limits, limiter: RateLimiter, metrics: Metrics): ServerRoute {
  const maxBytes = (source.options.max_body_bytes as number | undefined) ?? limits.maxBodyBytes;
  const maxEvents = (source.options.max_batch_events as number | undefined) ?? limits.maxBatchEvents;
  // Only a log that writes the events' own JSON text (the file log) and an archive writer that takes it (its
  // thread parses it instead of this thread stringifying the event) need it kept. Per request: a live swap
  // may turn the archive of raw events off.
  const rawTakes = () => (wantsRawJson(engine.log) ? 1 : 0) + (engine.archivesRawJson() ? 1 : 0);
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
              metrics.refused.inc({ kind: 'http', reason: 'body_too_large' });
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
      const refuse = (code: number, reason: string, error: string) => {
        metrics.refused.inc({ kind: 'http', reason });
        return h.response({ error }).code(code);
      };
      if (keys.size > 0) {
        if (!token) return refuse(401, 'no_key', `source '${source.name}' needs an API key (Authorization: Bearer <key>)`);
        if (!keys.has(token)) return refuse(403, 'bad_key', 'unknown API key for this source');
      }
      const text = (req.payload as Buffer | undefined)?.toString('utf8') ?? '';
      const keepRaw = rawTakes();
      let parsed;
      try {
        parsed = parseBatch(text, keepRaw);
      } catch (err) {
        parsed = { error: (err as Error).message };
      }
      // Not JSON or NDJSON at all (a broken array, or not one line that parses): 400, the body kept as a dead letter.
      if ('error' in parsed || (parsed.bad.length > 0 && parsed.bad.length === parsed.events.length)) {
        const why = 'error' in parsed ? parsed.error : parsed.bad[0].reason;
        await putDeadLetters(engine, [{ stream: source.name, event: text.slice(0, maxRawChars), reason: `malformed body: ${why}`, at: Date.now(), stage: 'ingest' }]);
        metrics.rejected.inc({ source: source.name, reason: 'malformed' });
        return refuse(400, 'malformed', `malformed body: ${why}; send a JSON array or NDJSON`);
      }
      if (parsed.events.length > maxEvents) return refuse(413, 'too_many_events', `batch of ${parsed.events.length} events is over the limit of ${maxEvents}: split it`);
      // Limits count per verified key, else per address: never per a token the client merely sent.
      const wait = limiter.take(keys.size > 0 ? `key:${token}` : `ip:${req.info.remoteAddress}`, parsed.events.length);
      if (wait > 0) {
        metrics.refused.inc({ kind: 'http', reason: 'rate_limited' });
        return h.response({ error: `rate limit: retry in ${wait} s` }).code(429).header('Retry-After', String(wait));
      }
      // Without unparsable lines (the usual case) the events go as they are and indexes map to themselves.
      let good = parsed.events;
      let goodIndex: number[] | null = null;
      if (parsed.bad.length) {
        const badIdx = new Set(parsed.bad.map((b) => b.index));
        good = parsed.events.filter((_, i) => !badIdx.has(i));
        goodIndex = parsed.events.map((_, i) => i).filter((i) => !badIdx.has(i));
      }
      const bodyIndex = (i: number) => (goodIndex ? goodIndex[i] : i);
      try {
        // An at-least-once sender names itself and the sequence number of the batch's first event, so a
        // re-sent batch is recognised by a log that supports it (the file log) and not processed twice.
        const producerId = req.headers['x-loflow-producer'];
        const seq = Number(req.headers['x-loflow-seq']);
        const producer = typeof producerId === 'string' && Number.isInteger(seq) ? { id: producerId, seq } : undefined;
        // Bounded: refused (503) while the store is down or the backlog stays full, so a sender is never
        // acknowledged into a queue that cannot drain, and no request hangs.
        const r = await engine.ingest(source.name, good, Date.now(), producer, { maxWaitMs: limits.queueWaitMs, refuseWhileDown: true });
        if (parsed.bad.length) await putDeadLetters(engine, parsed.bad.map((b) => ({ stream: source.name, event: b.line, reason: b.reason, at: Date.now(), stage: 'ingest' })));
        if (keepRaw > 0) for (const x of r.rejected) dropRawJson(good[x.index]);
        const rejected = [...parsed.bad.map((b) => ({ index: b.index, reason: b.reason })), ...r.rejected.map((x) => ({ index: bodyIndex(x.index), reason: x.reason }))].sort((a, b) => a.index - b.index);
        const warnings = r.warnings.map((x) => ({ index: bodyIndex(x.index), reason: x.reason }));
        metrics.eventsIn.inc({ source: source.name }, r.accepted);
        if (r.rejected.length) metrics.rejected.inc({ source: source.name, reason: 'invalid' }, r.rejected.length);
        if (parsed.bad.length) metrics.rejected.inc({ source: source.name, reason: 'malformed' }, parsed.bad.length);
        // 200: all accepted; 207: some rejected (each with index and reason); 422: none accepted.
        const code = rejected.length === 0 ? 200 : r.accepted > 0 ? 207 : 422;
        return h.response({ accepted: r.accepted, duplicates: r.duplicates, rejected, warnings }).code(code);
      } catch (err) {
        if (isBacklogFull(err)) return h.response({ error: `${(err as Error).message}: nothing was accepted, retry` }).code(503).header('Retry-After', '1');
        if (isUnavailable(err)) return h.response({ error: 'state or log store unavailable: nothing was accepted, retry' }).code(503).header('Retry-After', '2');
        throw err;
      }
    },
  };
}

/** Dead letters whose store fails are logged by the caller's error path, never left as an unhandled rejection. */
async function putDeadLetters(engine: Engine, letters: DeadLetter[]): Promise<void> {
  try {
    await engine.deadLetters.put(letters);
  } catch (err) {
    // The client still gets its answer; the failure is visible in the server log.
    console.error(`loflow: dead letters could not be written: ${(err as Error).message}`);
  }
}
