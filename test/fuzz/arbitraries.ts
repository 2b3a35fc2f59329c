// fast-check generators for the network fuzz test: event bodies (valid, junk, NDJSON mixes, deep nesting,
// outlier numbers, prototype names), request targets (odd paths, percent-encodings, absolute form), raw
// request heads, and WebSocket frame sequences (valid and every kind of malformed frame).
import fc from 'fast-check';
import { encodeFrame, type Frame } from './harness.js';

export const protoNames = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__', 'then'];
const rosterUsers = Array.from({ length: 12 }, (_, i) => `s-${String(i).padStart(4, '0')}`);
export const user = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...rosterUsers) },
  { weight: 1, arbitrary: fc.constantFrom(...protoNames) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u0000', 's-0000\n', '%E0%A4%A', 'é✓\u2028', 'x'.repeat(3000)) },
);

/** Numbers as JSON text: ordinary times and outliers (1e400 parses to Infinity, 9e15 is past Date's range). */
export const numberText = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }).map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('9e15', '8.64e15', '8.640000000000001e15', '-8.64e15', '1e400', '-1e400', '1e308', '-1e308', '5e-324', '1e-400', '9007199254740993', '-0', '0', '1' + '0'.repeat(400), '123456789012345678901234567890.5e-3'),
  },
);

const eventName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('keystroke', 'google_docs_save', 'document_history', 'visibility', 'mouseclick') },
  { weight: 1, arbitrary: fc.constantFrom(...protoNames, 'lock_fields', 'terminate', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);

const jsonString = (s: string) => JSON.stringify(s);

/** Deep nesting as text (arrays, objects or a mix), 1..6,000 levels (LOFLOW_FUZZ_MAX_DEPTH: to look past a known failure). */
const maxDepth = Number(process.env.LOFLOW_FUZZ_MAX_DEPTH ?? 6000);
export const deepText = fc.tuple(fc.integer({ min: 1, max: maxDepth }), fc.constantFrom('array', 'object', 'mixed')).map(([n, kind]) => {
  if (kind === 'array') return '['.repeat(n) + ']'.repeat(n);
  if (kind === 'object') return '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  let open = '';
  let close = '';
  for (let i = 0; i < n; i++) {
    if (i % 2) {
      open += '[';
      close = ']' + close;
    } else {
      open += `{"${protoNames[i % protoNames.length]}":`;
      close = '}' + close;
    }
  }
  return open + (n % 2 ? '1' : 'null') + close;
});

/** One event object as JSON text; mostly schema-valid, sometimes with hostile fields. */
export const eventText = fc
  .record({
    event: eventName,
    ts: fc.option(numberText, { nil: undefined }),
    user: fc.option(user, { nil: undefined }),
    doc: fc.option(fc.oneof(fc.constantFrom('d1', 'd2', ...protoNames), fc.string({ maxLength: 8 })), { nil: undefined }),
    key: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }),
    extra: fc.option(
      fc.oneof(
        fc.constantFrom(...protoNames).map((n) => `${jsonString(n)}:{"polluted":true}`),
        deepText.map((d) => `"deep":${d}`),
        numberText.map((n) => `"n":${n}`),
        fc.json({ maxDepth: 3 }).map((j) => `"x":${j}`),
        fc.constantFrom('"bundles":[{"commands":[{"ty":"is","ibi":1,"s":"hello"}]}]', '"bundles":[{"commands":[{"ty":"ds","si":1,"ei":99999999}]}]', '"bundles":"x"', '"doc_id":5', '"auth":null', '"ts":"now"', '"keystroke":[]'),
      ),
      { nil: undefined },
    ),
  })
  .map((e) => {
    const parts = [`"event":${jsonString(e.event)}`];
    if (e.ts !== undefined) parts.push(`"ts":${e.ts}`);
    if (e.user !== undefined) parts.push(`"auth":{"user_id":${jsonString(e.user)}}`);
    if (e.doc !== undefined) parts.push(`"doc_id":${jsonString(e.doc)}`);
    if (e.key !== undefined) parts.push(`"keystroke":{"key":${jsonString(e.key)}}`);
    if (e.extra !== undefined) parts.push(e.extra);
    return `{${parts.join(',')}}`;
  });

const junkLine = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('{', '[', '}', ']', '{"event":', 'null', '7', '"x"', '[]', '{}', 'NaN', 'Infinity', '\u0000', '\ufeff{"event":"x"}', '{"event":"x"}{"event":"y"}'),
  fc.json({ maxDepth: 2 }),
);

/** Buffers print as their first bytes (latin1) and length in counterexamples, not as a list of numbers. */
export function readable(b: Buffer): Buffer {
  const shown = b.length > 240 ? `${b.subarray(0, 160).toString('latin1')}…${b.subarray(-40).toString('latin1')}` : b.toString('latin1');
  return Object.assign(b, { [fc.toStringMethod]: () => `Buffer(${b.length}) ${JSON.stringify(shown)}` });
}

/** A request body as bytes. */
export const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: fc.array(eventText, { minLength: 0, maxLength: 25 }).map((es) => Buffer.from(`[${es.join(',')}]`)) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.array(fc.oneof({ weight: 3, arbitrary: eventText }, { weight: 1, arbitrary: junkLine }, { weight: 1, arbitrary: fc.constant('') }), { maxLength: 25 }), fc.constantFrom('\n', '\r\n', '\n\n'))
      .map(([lines, nl]) => Buffer.from(lines.join(nl))),
  },
  { weight: 1, arbitrary: eventText.map((e) => Buffer.from(e)) },
  { weight: 1, arbitrary: deepText.map((d) => Buffer.from(d)) },
  { weight: 1, arbitrary: fc.tuple(eventText, deepText).map(([e, d]) => Buffer.from(`[${e},${d}]\n`)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.array(eventText, { maxLength: 5 }).map((es) => Buffer.concat([Buffer.from(`[${es.join(',')}`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(']')])) },
).map(readable);

// ------------------------------------------------------------------------------------------------------
// Request targets and heads.

const pctEncoded = fc.oneof(
  fc.constantFrom('%E0%A4%A', '%', '%%', '%zz', '%00', '%2F', '%2e%2e', '%C0%AF', '%FF', '%u0041', '%E2%9C%93', '%0D%0A', '%3F', '%23'),
  fc.integer({ min: 0, max: 255 }).map((n) => `%${n.toString(16).padStart(2, '0')}`),
);
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('v1', 'events', 'dashboards', 'overview', 'class-a', 'live', 'wsapi', 'in', 'healthz', 'metrics', 'tap', '', '.', '..', 'app.js') },
  { weight: 1, arbitrary: fc.constantFrom(...protoNames) },
  { weight: 2, arbitrary: fc.array(pctEncoded, { minLength: 1, maxLength: 3 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((s) => encodeURIComponent(s)) },
  { weight: 1, arbitrary: fc.constantFrom('é', '✓', '\t', ' ', '[', ']', '@', ':', '\\') },
);
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?token=demo-t-ada', '?token=demo-t-bo', '?token=', '?token=__proto__', '?token=%E0%A4%A', '?%=%', '?token=a&token=b', '?key=__proto__&limit=1e400&rate=-1', '?' + 'a'.repeat(9000)),
  fc.string({ maxLength: 10 }).map((t) => `?token=${encodeURIComponent(t)}`),
);
const authority = fc.constantFrom('127.0.0.1', '127.0.0.1:99999', 'x:99999', '[', '[::1', '[::1]:0', 'user:pw@127.0.0.1', 'xn--', '127.0.0.1:-1', '%41', '');
/** A request target: origin form (odd paths), absolute form, `//authority/...`, `*`, or nonsense. */
export const target = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), query).map(([segs, q]) => `/${segs.join('/')}${q}`) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom('/wsapi/in/', '/wsapi/in', '/v1/events', '/v1/dashboards/overview/class-a/live', '/v1/dashboards/overview/class-a/events', '/v1/dashboards/overview/class-a', '/healthz', '/v1/dashboards/o/%E0%A4%A/live'), query).map(([p, q]) => p + q),
  },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('http://', 'https://', 'ws://', '//', 'HTTP://', 'foo:'), authority, fc.constantFrom('/wsapi/in/', '/v1/events', '/v1/dashboards/overview/class-a/live', '/healthz', '', '/%E0%A4%A')).map(([s, a, p]) => s + a + p) },
  { weight: 1, arbitrary: fc.constantFrom('*', '', ' ', 'wsapi/in/', '/\u0000', '/' + 'a'.repeat(20_000), '/a b', 'http://[/wsapi/in/', '//x:99999/wsapi/in/', '/v1/dashboards/o/%E0%A4%A/live') },
);

export const method = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('GET', 'POST') }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'get', 'G\u00c9T', '', 'X'.repeat(300)) });

/** Header lines (already formatted), including conflicting lengths, odd bytes and upgrade requests. */
export const headerLines = fc.array(
  fc.oneof(
    fc.constantFrom(
      'Content-Type: application/json',
      'Content-Type: application/x-ndjson',
      'Content-Type: text/plain; charset=latin1',
      'Content-Type: multipart/form-data; boundary=x',
      'Content-Encoding: gzip',
      'Content-Encoding: br, deflate',
      'Transfer-Encoding: chunked',
      'Transfer-Encoding: chunked, identity',
      'Content-Length: 5',
      'Content-Length: -1',
      'Content-Length: 99999999999999999999',
      'Content-Length: 1, 2',
      'Authorization: Bearer __proto__',
      'Authorization: Bearer demo-t-ada',
      'Authorization: Basic Og==',
      'Authorization: Bearer',
      'X-Loflow-Producer: __proto__',
      'X-Loflow-Seq: 1e400',
      'X-Loflow-Seq: -5',
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Connection: keep-alive, Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==',
      'Sec-WebSocket-Key: not base64',
      'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
      'Expect: 100-continue',
      'Host:',
      'Host: [',
      'Origin: null',
      ' folded: continuation',
      'NoColon',
      ': empty-name',
      `X-Big: ${'b'.repeat(20_000)}`,
    ),
    fc.tuple(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 20 })).map(([k, v]) => `${k}: ${v}`),
  ),
  { maxLength: 6 },
);

// ------------------------------------------------------------------------------------------------------
// WebSocket frames.

export type WsStep =
  | { kind: 'frame'; frame: Frame; events: number; clean: boolean }
  | { kind: 'raw'; bytes: Buffer }
  | { kind: 'pause'; ms: number };

const mask = (clean: boolean) => (clean ? fc.constant(true) : fc.boolean());
const wsEventText = fc.array(eventText, { minLength: 1, maxLength: 4 }).map((es) => (es.length === 1 ? es[0] : `[${es.join(',')}]`));
/** Events a text payload would carry (objects at the top or in a top-level array). */
export function eventCount(payload: string): number {
  try {
    const v = JSON.parse(payload) as unknown;
    const list = Array.isArray(v) ? v : [v];
    return list.filter((e) => e && typeof e === 'object' && !Array.isArray(e) && (e as { event?: unknown }).event !== 'lock_fields' && (e as { event?: unknown }).event !== 'terminate').length;
  } catch {
    return 0;
  }
}
const tf = (payload: Buffer | string, more: Partial<Frame> = {}): Frame => ({ fin: true, rsv: 0, opcode: 1, mask: true, payload: readable(Buffer.isBuffer(payload) ? payload : Buffer.from(payload)), ...more });

export const wsStep: fc.Arbitrary<WsStep> = fc.oneof(
  // Valid text frames: events, lock_fields, identity.
  { weight: 6, arbitrary: wsEventText.map((p) => ({ kind: 'frame' as const, frame: tf(p), events: eventCount(p), clean: true })) },
  { weight: 2, arbitrary: user.map((u) => ({ kind: 'frame' as const, frame: tf(JSON.stringify({ event: 'lock_fields', fields: { user_id: u, source: 'fuzz' } })), events: 0, clean: true })) },
  { weight: 1, arbitrary: fc.constantFrom(...protoNames).map((n) => ({ kind: 'frame' as const, frame: tf(`{"event":"lock_fields","fields":{"${n}":{"user_id":"s-0001"},"user_id":"${n}"}}`), events: 0, clean: true })) },
  // A valid message split over 2..4 fragments (continuations), with a ping in between sometimes.
  {
    weight: 2,
    arbitrary: fc.tuple(wsEventText, fc.integer({ min: 2, max: 4 }), fc.boolean()).map(([p, n, ping]) => {
      const b = Buffer.from(p);
      const step = Math.ceil(b.length / n);
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const chunk = b.subarray(i * step, (i + 1) * step);
        parts.push(encodeFrame(tf(chunk, { opcode: i === 0 ? 1 : 0, fin: i === n - 1 })));
        if (ping && i === 0) parts.push(encodeFrame({ fin: true, rsv: 0, opcode: 9, mask: true, payload: Buffer.from('p') }));
      }
      return { kind: 'frame' as const, frame: { fin: true, rsv: 0, opcode: -1, mask: true, payload: Buffer.concat(parts) }, events: eventCount(p), clean: true };
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(9, 10).map((op) => ({ kind: 'frame' as const, frame: tf('ping', { opcode: op }), events: 0, clean: true })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => ({ kind: 'frame' as const, frame: tf(Buffer.from(a), { opcode: 2 }), events: 0, clean: true })) },
  // Malformed.
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => ({ kind: 'frame' as const, frame: tf(Buffer.concat([Buffer.from('{"event":"'), Buffer.from([0xc3, 0x28]), Buffer.from(a)])), events: 0, clean: false })) },
  { weight: 1, arbitrary: fc.tuple(wsEventText, fc.integer({ min: 1, max: 7 })).map(([p, rsv]) => ({ kind: 'frame' as const, frame: tf(p, { rsv }), events: 0, clean: false })) },
  { weight: 1, arbitrary: wsEventText.map((p) => ({ kind: 'frame' as const, frame: tf(p, { mask: false }), events: 0, clean: false })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 0), mask(false)).map(([opcode, m]) => ({ kind: 'frame' as const, frame: tf('{"event":"x"}', { opcode, mask: m }), events: 0, clean: false })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(8, 9, 10), fc.integer({ min: 126, max: 2000 }), fc.boolean()).map(([opcode, n, fin]) => ({ kind: 'frame' as const, frame: tf(Buffer.alloc(n, 0x41), { opcode, fin }), events: 0, clean: false })) },
  { weight: 1, arbitrary: fc.constantFrom(8, 9, 10).map((opcode) => ({ kind: 'frame' as const, frame: tf('x', { opcode, fin: false }), events: 0, clean: false })) },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.constantFrom(0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535), fc.integer({ min: 0, max: 65535 })).chain((code) =>
      fc.oneof(
        fc.constant({ kind: 'frame' as const, frame: tf(Buffer.from([code >> 8, code & 0xff]), { opcode: 8 }), events: 0, clean: false }),
        fc.constant({ kind: 'frame' as const, frame: tf(Buffer.from([code >> 8, code & 0xff, 0xff, 0xfe]), { opcode: 8 }), events: 0, clean: false }),
        fc.constant({ kind: 'frame' as const, frame: tf(Buffer.from([code & 0xff]), { opcode: 8 }), events: 0, clean: false }),
      ),
    ),
  },
  { weight: 1, arbitrary: fc.tuple(wsEventText, fc.integer({ min: -20, max: 20 }), fc.constantFrom('auto', '16', '64') as fc.Arbitrary<'auto' | '16' | '64'>).map(([p, lie, len]) => ({ kind: 'frame' as const, frame: tf(p, { lie, len }), events: 0, clean: false })) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x81, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]), Buffer.from([0x81, 0xfe, 0xff, 0xff, 1, 2, 3, 4])).map((bytes) => ({ kind: 'raw' as const, bytes })) },
  { weight: 1, arbitrary: fc.tuple(wsEventText, fc.boolean()).map(([p, cont]) => ({ kind: 'frame' as const, frame: tf(p, { fin: false, opcode: cont ? 0 : 1 }), events: 0, clean: false })) },
  // Over the 256 KiB message limit: in one frame, or as fragments that add up to it.
  { weight: 1, arbitrary: fc.boolean().map((frag) => ({ kind: 'frame' as const, frame: frag ? fragmentedBig() : tf(`{"event":"keystroke","pad":"${'x'.repeat(262_200)}"}`), events: 0, clean: false })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => ({ kind: 'raw' as const, bytes: Buffer.from(a) })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 60 }).map((ms) => ({ kind: 'pause' as const, ms })) },
);

function fragmentedBig(): Frame {
  const parts: Buffer[] = [];
  for (let i = 0; i < 5; i++) parts.push(encodeFrame(tf(Buffer.alloc(60_000, 0x20), { opcode: i === 0 ? 1 : 0, fin: false })));
  parts.push(encodeFrame(tf('{}', { opcode: 0, fin: true })));
  return { fin: true, rsv: 0, opcode: -1, mask: true, payload: Buffer.concat(parts) };
}

/** Encode a step: opcode -1 marks pre-encoded bytes (fragment sequences). */
export function stepBytes(s: WsStep): Buffer {
  if (s.kind === 'raw') return s.bytes;
  if (s.kind === 'pause') return Buffer.alloc(0);
  return s.frame.opcode === -1 ? s.frame.payload : encodeFrame(s.frame);
}
