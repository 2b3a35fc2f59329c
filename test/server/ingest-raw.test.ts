// HTTP ingest into the file log writes each event as the JSON text it arrived in (parseBatch keeps it, the
// log takes it) instead of stringifying it again: the log must read back exactly what was posted. The
// archive's writer thread takes the same text (after the log), and must archive what it would have archived
// from the parsed event.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { arrayElementSpans } from '../../engine/json-spans.js';
import { FileInputLog } from '../../engine/log/file-log.js';
import { linesOf } from '../../engine/log/segment-lines.js';
import { keepRawJson, takeRawJson } from '../../engine/log/raw-json.js';
import { openArchiveSink } from '../../archive/open.js';
import { appendBody } from '../../archive/worker-sink.js';
import { folderSource, mergedEvents, readCommit } from '../../archive/read.js';
import { Engine } from '../../engine/runtime.js';
import { parseBatch } from '../../engine/server/ingest-http.js';
import { startServer } from '../../engine/server/index.js';
import type { LoEvent } from '../../engine/types.js';
import { demoPipeline, keystroke } from './server-fixture.js';

describe('parseBatch', () => {
  it('parses arrays and NDJSON alike with or without keeping texts, and rejects what it rejected before', () => {
    const ndjson = ['', JSON.stringify(keystroke('s-0001', 1)), '  ', '{broken', '\t{"a":1}\r', '7', ''].join('\n');
    for (const keep of [0, 1]) {
      expect(parseBatch('  [{"a":1}, 2, "x", null, [3]] \n', keep)).toEqual({ events: [{ a: 1 }, 2, 'x', null, [3]], bad: [] });
      const nd = parseBatch(ndjson, keep);
      // Blank lines are skipped and not counted; the bad line keeps its place as undefined.
      expect(nd.events).toEqual([keystroke('s-0001', 1), undefined, { a: 1 }, 7]);
      expect(nd.bad).toEqual([{ index: 1, reason: expect.stringMatching(/^not JSON: /), line: '{broken' }]);
      expect(parseBatch('', keep)).toEqual({ events: [], bad: [] });
      expect(() => parseBatch('[{"event": ', keep)).toThrow(SyntaxError);
      expect(() => parseBatch('[1] [2]', keep)).toThrow(SyntaxError);
    }
  });

  it('keeps the exact text of each object element, and none for a body over several lines', () => {
    const body = '[ {"a":"[\\"}{,"} ,{"b":[1,{"c":"\\\\"}]},3,{"d":"é\\u00e9"}]';
    const { events } = parseBatch(body, 1);
    expect(takeRawJson(events[0] as object)).toBe('{"a":"[\\"}{,"}');
    expect(takeRawJson(events[1] as object)).toBe('{"b":[1,{"c":"\\\\"}]}');
    expect(takeRawJson(events[3] as object)).toBe('{"d":"é\\u00e9"}');
    // Taken once: the log owns it now.
    expect(takeRawJson(events[0] as object)).toBeUndefined();
    const pretty = parseBatch(JSON.stringify([{ a: 1 }], null, 2), 1);
    expect(takeRawJson(pretty.events[0] as object)).toBeUndefined();
    const unkept = parseBatch('[{"a":1}]');
    expect(takeRawJson(unkept.events[0] as object)).toBeUndefined();
  });
});

describe('raw texts for two consumers (the file log, then the archive thread)', () => {
  it('a text kept for two takes is given twice, then forgotten; a rejected event drops it at once', () => {
    const e = { a: 1 };
    keepRawJson(e, '{"a": 1}', 2);
    expect(takeRawJson(e)).toBe('{"a": 1}');
    expect(takeRawJson(e)).toBe('{"a": 1}');
    expect(takeRawJson(e)).toBeUndefined();
    const { events } = parseBatch('[{"b": 2}, {"c":3}]', 2);
    expect(takeRawJson(events[0] as object)).toBe('{"b": 2}');
    expect(takeRawJson(events[0] as object)).toBe('{"b": 2}');
    expect(takeRawJson(events[0] as object)).toBeUndefined();
  });

  it("the archive thread's append carries an event's own text, else its JSON, with offsets and times beside", () => {
    const kept = { event: 'x', note: 'é' } as unknown as LoEvent;
    keepRawJson(kept, '{ "event": "x", "note": "\u00e9" }');
    const plain = { event: 'y', gone: undefined, n: -0 } as unknown as LoEvent;
    const body = appendBody('s', [
      { offset: 7, at: 1.5, stream: 's', event: kept },
      { offset: 8, at: 2, stream: 's', event: plain },
      { offset: 9, at: 3, stream: 's', event: undefined as unknown as LoEvent },
    ]);
    if (!('bytes' in body) || body.op !== 'append') throw new Error(`expected bytes, got ${JSON.stringify(Object.keys(body))}`);
    // ends are byte positions (UTF-8): é takes two.
    const bytes = Buffer.from(body.bytes);
    const texts = [...body.ends].map((end, i) => bytes.toString('utf8', i ? body.ends[i - 1] : 0, end));
    expect(texts).toEqual(['{ "event": "x", "note": "\u00e9" }', '{"event":"y","n":0}', 'null']);
    expect([...body.meta]).toEqual([7, 1.5, 8, 2, 9, 3]);
    // Taken: the text is the thread's now.
    expect(takeRawJson(kept)).toBeUndefined();
    // A value JSON cannot carry: the append is cloned instead.
    const big = appendBody('s', [{ offset: 1, at: 1, stream: 's', event: { n: 1n } as unknown as LoEvent }]);
    expect('triples' in big && big.triples).toEqual([[1, 1, { n: 1n }]]);
  });
});

describe('arrayElementSpans', () => {
  it('finds every top-level element, whatever its strings hold', () => {
    const values = [{ s: 'a "quoted" ] } , [ {' }, 'x\\', '\\"', [[], {}], -1.5e3, true, null, { k: ['\n', '\u2028'] }];
    for (const text of [JSON.stringify(values), JSON.stringify(values, null, 1), ` [ ${values.map((v) => JSON.stringify(v)).join(' ,\t')} ]`.trim()]) {
      const spans = arrayElementSpans(text)!;
      expect(spans).toHaveLength(2 * values.length);
      for (let i = 0; i < values.length; i++) expect(JSON.parse(text.slice(spans[2 * i], spans[2 * i + 1]))).toEqual(values[i]);
    }
    expect(arrayElementSpans('[]')).toEqual([]);
    expect(arrayElementSpans('[ ]')).toEqual([]);
  });

  it('answers null, not wrong spans, for text that is not one array', () => {
    expect(arrayElementSpans('{"a":[1]}')).toBeNull();
    expect(arrayElementSpans('[1] [2]')).toBeNull();
    expect(arrayElementSpans('[1,"open')).toBeNull();
  });
});

describe('file log lines', () => {
  it('are what JSON.stringify of each line wrote, with or without producers and kept texts', () => {
    const entries = [
      { stream: 'batch', event: { event: 'x', n: 1, t: 'é' } as LoEvent, at: 1 },
      { stream: 'batch', event: { event: 'x', n: 2 } as LoEvent, at: 2, producer: 'p"1', seq: 7 },
      { stream: 'other', event: { event: 'y' } as LoEvent, at: 3, producer: 'p', seq: undefined },
      { stream: 'other', event: { event: 'z' } as LoEvent, at: -0 },
      { stream: 'other', event: { event: 'z' } as LoEvent, at: NaN, producer: 'p', seq: 1.5e300 },
    ];
    const before = (es: typeof entries) =>
      es.map((b) => JSON.stringify({ s: b.stream, e: b.event, a: b.at, ...(b.producer !== undefined ? { p: b.producer, q: b.seq } : {}) })).join('\n') + '\n';
    expect(linesOf(entries)).toBe(before(entries));
    keepRawJson(entries[0].event, JSON.stringify(entries[0].event));
    expect(linesOf(entries)).toBe(before(entries));
  });
});

describe('HTTP ingest into the file log', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  async function fileLogServer(dir: string, archiveDir?: string) {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const archive = archiveDir ? await openArchiveSink(pipeline!, archiveDir, { thread: 'worker' }) : undefined;
    const engine = new Engine(pipeline!, { log: new FileInputLog(dir), archive });
    await engine.start();
    const s = await startServer({ pipeline: pipeline!, engine, port: 0 });
    stop = async () => {
      await s.stop();
      await engine.stop();
    };
    return (body: string) => fetch(`${s.url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  }

  const segmentText = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.startsWith('segment-'))
      .sort()
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');

  it('writes the same bytes as before for compact JSON bodies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-raw-'));
    const post = await fileLogServer(dir);
    const sent = [keystroke('s-0001', 1, '"'), keystroke('s-0002', 2, '\\'), { ...keystroke('s-0003', 3), note: 'é ✓ \u2028' }];
    expect((await post(JSON.stringify(sent.slice(0, 2)))).status).toBe(200);
    expect((await post(sent.map((e) => JSON.stringify(e)).join('\n'))).status).toBe(200);
    await stop!();
    stop = undefined;
    const log = new FileInputLog(dir);
    const logged = await log.read(0, 10);
    await log.close();
    expect(logged.map((x) => x.event)).toEqual([...sent.slice(0, 2), ...sent]);
    expect(segmentText(dir)).toBe(logged.map((x) => JSON.stringify({ s: x.stream, e: x.event, a: x.at }) + '\n').join(''));
  });

  it('reads back what was posted for bodies with spaces, escapes, several lines, CRLF and rejected events; the archive thread archives the same events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-raw-'));
    const archiveDir = mkdtempSync(join(tmpdir(), 'loflow-raw-archive-'));
    const post = await fileLogServer(dir, archiveDir);
    const a = keystroke('s-0004', 4);
    const spaced = `[ { "event" : "keystroke", "ts": 5, "auth": {"user_id": "s-0005"}, "doc_id": "d\\u0031", "keystroke": {"key": "\\/"} } ,\t${JSON.stringify(a)} ]`;
    expect((await post(spaced)).status).toBe(200);
    expect((await post(JSON.stringify([keystroke('s-0006', 6)], null, 2))).status).toBe(200);
    expect((await post(`${JSON.stringify(keystroke('s-0007', 7))}\r\n${JSON.stringify(keystroke('s-0008', 8))}\r\n`)).status).toBe(200);
    const partly = await post(JSON.stringify([{ ts: 9 }, keystroke('s-0009', 9)]));
    expect(partly.status).toBe(207);
    expect((await partly.json()).rejected).toEqual([{ index: 0, reason: "(event) must have 'event'" }]);
    await stop!();
    stop = undefined;
    const text = segmentText(dir);
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(6 + 1);
    // The spaced body's first event is written as it came (its bytes reused); the pretty-printed one is
    // stringified again (its element spans several lines).
    expect(lines[0]).toContain(',"e":{ "event" : "keystroke", "ts": 5,');
    expect(lines[2]).toContain(',"e":{"event":"keystroke","ts":6,');
    const log = new FileInputLog(dir);
    const logged = await log.read(0, 10);
    await log.close();
    const posted = [...JSON.parse(spaced), keystroke('s-0006', 6), keystroke('s-0007', 7), keystroke('s-0008', 8), keystroke('s-0009', 9)];
    expect(logged.map((x) => x.event)).toEqual(posted);
    // Both consumers took the texts (kept for two): the archive holds every accepted event, as parsed.
    const src = await folderSource(archiveDir);
    const archived = await mergedEvents(src, await readCommit(src), ['batch']);
    expect(archived.map((x) => x.event)).toEqual(posted);
  });
});
