// The demo pipeline (pipelines/writing-observer.yaml) on events in the real Writing Observer extension's shapes:
// test/fixtures/extension/typing-session.json is one student's short session written by hand from the
// extension's content script and background page (each key as keydown, keypress for printable keys, and keyup;
// no top-level ts, lo_event's metadata.iso_ts on every event; google_docs_save {doc_id, tab_id, url, bundles,
// rev, timestamp}; document_loaded/document_history naming the document in object.id).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Classroom, clientTime } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent } from '../../engine/types.js';
import { reconstructText } from '../../operators/reconstruct-text.js';

const session: LoEvent[] = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/extension/typing-session.json'), 'utf8'));
const DOC = session[0].object.id as string;
const T0 = Date.parse('2026-01-12T09:00:00.000Z');
/** The events the student logged while the extension was connected; the rest were queued offline. */
const ONLINE = session.findIndex((e) => e.event === 'google_docs_save') + 1;

async function demo(): Promise<CompiledPipeline> {
  const { pipeline, errors } = await compilePipelineFile(join(import.meta.dirname, '../../pipelines/writing-observer.yaml'));
  expect(errors).toEqual([]);
  return pipeline!;
}

/** Feed events one by one, each arriving at the given server time (ms). */
async function feed(engine: Engine, events: LoEvent[], arrival: (e: LoEvent, i: number) => number): Promise<void> {
  for (let i = 0; i < events.length; i++) await engine.ingest('extension', [structuredClone(events[i])], arrival(events[i], i));
  await engine.flush();
}

describe("the demo pipeline on the extension's real event shapes", () => {
  it('the fixture has the shapes: three events a printable key, no ts, metadata.iso_ts everywhere', () => {
    expect(session.every((e) => e.ts === undefined && typeof e.metadata?.iso_ts === 'string')).toBe(true);
    const keys = session.filter((e) => e.event === 'keystroke');
    expect(keys.filter((e) => e.keystroke.type === 'keydown').length).toBe(8);
    expect(keys.filter((e) => e.keystroke.type === 'keypress').length).toBe(7); // not for Backspace
    expect(keys.filter((e) => e.keystroke.type === 'keyup').length).toBe(8);
    expect(session.find((e) => e.event === 'document_history')!.doc_id).toBeUndefined();
  });

  it('gives the right WPM, text and time on task (events arriving as they happen)', async () => {
    const engine = new Engine(await demo());
    await feed(engine, session, (e) => clientTime(e)! + 250);
    // 7 characters typed (" thx", then Backspace, "ere"): 1.4 words in the last minute, whatever the three
    // events of each key; 8 keys (keydowns).
    expect(engine.view('typing', 's-0004')).toEqual({ wpm: 1.4, keystrokes: 8 });
    // The document_history (object.id) gives the text from before the saves: "Hi" + " there", nothing padded.
    expect(engine.view('text', `s-0004|${DOC}`)).toEqual({ length: 8, words: 2, padded: 0, edits: 3 });
    expect(engine.keys('text')).toEqual([`s-0004|${DOC}`]);
    // From the page load to the visibility change, by the client's clock.
    expect(engine.view('time_on_task', 's-0004')).toMatchObject({ active_ms: 3200, sessions: 1 });
    // One typing run (keydowns 250 ms apart): still open, 8 keys.
    expect(engine.view('bursts', 's-0004')).toMatchObject({ closed: 0, open: { count: 8 } });
    await engine.stop();

    // The text itself, through the same operator and the same events.
    const params = reconstructText.prepare!({ include_text: true });
    let s = reconstructText.init(params);
    for (const e of session.filter((x) => x.event === 'google_docs_save' || x.event === 'document_history')) {
      s = reconstructText.reduce(s, e, { key: 'k', time: 0, emit() {}, late() {} }, params);
    }
    expect((reconstructText.view!(s, params, 0) as { text: string }).text).toBe('Hi there');
  });

  it('a reconnect burst (queued events arriving together, 4 minutes later) neither inflates active time nor splits the typing run', async () => {
    const engine = new Engine(await demo());
    const flushedAt = T0 + 3200 + 240_000;
    await feed(engine, session, (e, i) => (i < ONLINE ? clientTime(e)! + 250 : flushedAt));
    expect(engine.view('time_on_task', 's-0004')).toMatchObject({ active_ms: 3200, sessions: 1 });
    expect(engine.view('bursts', 's-0004')).toMatchObject({ closed: 0, open: { count: 8 } });
    expect(engine.view('text', `s-0004|${DOC}`)).toEqual({ length: 8, words: 2, padded: 0, edits: 3 });
    await engine.stop();
  });

  it("the demo's WPM from keydown/keypress/keyup triples equals the WPM of the typed text (generated classroom)", async () => {
    const classroom = new Classroom({ students: 6, seed: 7, documents: 1 });
    const events = [...classroom.events(900), ...classroom.finish()].map((g) => g.event);
    const times = events.map((e) => clientTime(e)!);
    // The whole recording is inside the 1 m window, so each student's WPM is what they typed / 5.
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(60_000);
    expect(events.filter((e) => e.event === 'keystroke' && e.keystroke.type === 'keyup').length).toBeGreaterThan(200);
    const engine = new Engine(await demo());
    await feed(engine, events, (e) => clientTime(e)!);
    for (let i = 0; i < 6; i++) {
      const id = `s-000${i}`;
      // Typed characters: what the saves insert (one `is` of one character a typed key).
      let typed = 0;
      for (const e of events) {
        if (e.event !== 'google_docs_save' || e.auth.user_id !== id) continue;
        for (const c of e.bundles[0].commands.flatMap((x: any) => (x.ty === 'mlti' ? x.mts : [x]))) if (c.ty === 'is') typed += c.s.length;
      }
      expect(typed, id).toBeGreaterThan(20);
      expect((engine.view('typing', id) as { wpm: number }).wpm, id).toBe(Math.round((typed / 5) * 10) / 10);
    }
    await engine.stop();
  });
});
