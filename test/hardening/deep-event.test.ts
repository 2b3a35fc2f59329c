// Hardening #17, finding 3: a deeply nested event (5,000 levels, ~10 KB) was accepted, then overflowed the
// archive's stack: /healthz said "archive stopped" until a restart, and after it the acknowledged event was
// missing from the archive (live state 101 events for the student, archive 100), with no trace anywhere.
// Now every source refuses it at validation (max_depth, iteratively checked), and an event already in the
// log that the archive cannot encode is a dead letter with its reason, counted, never a silent gap.
import { describe, expect, inject, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { join } from 'node:path';
import { WorkerArchiveSink } from '../../archive/worker-sink.js';
import { compilePipelineFile } from '../../engine/compiler.js';
import { cutDeep, structureProblem } from '../../engine/event-limits.js';
import { Engine } from '../../engine/runtime.js';
import type { CompiledPipeline, LoEvent } from '../../engine/types.js';
import { archived, caughtUp, deadLetters, deepEventText, demoDir, health, keystroke, liveEvents, serve, stop } from './helpers.js';

const T0 = Date.now() - 3_600_000;
const student = 's-0001'; // class-b, teacher t-ada

describe('a deeply nested event', () => {
  it('is refused over HTTP with a dead letter, and the archive keeps every acknowledged event across a restart', async () => {
    const name = `deep${Date.now()}`;
    const { dir, args } = demoDir(name);
    let s = await serve(args);
    try {
      const batch = Array.from({ length: 100 }, (_, i) => keystroke(student, T0 + i * 1000));
      expect((await fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(batch) })).status).toBe(200);
      const deep = await fetch(`${s.url}/v1/events`, { method: 'POST', body: `[${deepEventText(student, T0 + 100_000)}]` });
      const answer = (await deep.json()) as { accepted: number; rejected: Array<{ index: number; reason: string }> };
      await caughtUp(s.url, 100);
      // The finding: the writer overflowed and the archive stopped (503 until a restart).
      expect((await health(s.url)).status).toBe(200);
      const live = await liveEvents(s.url, student);
      await stop(s);

      s = await serve(args);
      await caughtUp(s.url, live);
      expect((await health(s.url)).status).toBe(200);
      const liveAfter = await liveEvents(s.url, student);
      await stop(s);

      // Live state and archive agree on every acknowledged event (the finding: 101 live, 100 archived).
      const inArchive = (await archived(dir)).filter((e) => e.event.auth?.user_id === student).length;
      expect(liveAfter).toBe(live);
      expect(inArchive).toBe(live);
      expect(live).toBe(100);

      // Refused with a reason naming the bound, dead-lettered (cut to a depth JSON can write).
      expect(deep.status).toBe(422);
      expect(answer.accepted).toBe(0);
      expect(answer.rejected).toEqual([{ index: 0, reason: 'event nests deeper than 64 levels (max_depth)' }]);
      const letters = deadLetters(dir, name);
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ stream: 'batch', stage: 'ingest', reason: 'event nests deeper than 64 levels (max_depth)', event: { event: 'keystroke', auth: { user_id: student } } });
    } finally {
      if (s.child.exitCode === null) await stop(s, 'SIGKILL');
    }
  }, 60_000);

  it('logged before the bound existed, is dead-lettered by the archive (live and on the re-feed after a crash) instead of stopping it', async () => {
    // The input log as an older version left it: 100 events, the deep one acknowledged at offset 100, one more.
    const name = `deeplog${Date.now()}`;
    const { dir, args: base } = demoDir(name);
    const args = [...base, '--state', inject('redisUrl')];
    mkdirSync(join(dir, 'log'));
    const line = (e: string, a: number) => `{"s":"batch","e":${e},"a":${a}}\n`;
    let text = '';
    for (let i = 0; i < 100; i++) text += line(JSON.stringify(keystroke(student, T0 + i * 1000)), T0 + i * 1000);
    text += line(deepEventText(student, T0 + 100_000), T0 + 100_000);
    text += line(JSON.stringify(keystroke(student, T0 + 101_000)), T0 + 101_000);
    writeFileSync(join(dir, 'log', 'segment-000000000000.ndjson'), text);

    const skipped = async (url: string) => {
      for (let i = 0; (await health(url)).body.archive_skipped !== 1 && i < 250; i++) await new Promise((r) => setTimeout(r, 20));
      return health(url);
    };
    // First life: processes the log (the deep event counts live, as it did when it was acknowledged); the
    // archive goes on without the event it cannot encode. Killed before any archive commit.
    let s = await serve(args);
    try {
      await caughtUp(s.url, 102);
      expect(await liveEvents(s.url, student)).toBe(102);
      const h = await skipped(s.url);
      expect(h.status).toBe(200);
      expect(h.body.archive_skipped).toBe(1);
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/^loflow_archive_skipped_total 1$/m);
    } finally {
      await stop(s, 'SIGKILL');
    }
    // Second life: the state store has all 102 processed, the archive nothing: the re-feed from the log puts
    // every event in it, again without the deep one (dead-lettered again: kept twice, never lost).
    s = await serve(args);
    try {
      await caughtUp(s.url, 102);
      const h = await skipped(s.url);
      expect(h.status).toBe(200);
      expect(h.body.archive_skipped).toBe(1);
    } finally {
      await stop(s);
    }
    expect((await archived(dir)).map((e) => e.offset)).toEqual([...Array.from({ length: 100 }, (_, i) => i), 101]);
    const letters = deadLetters(dir, name);
    expect(letters).toHaveLength(2);
    for (const l of letters) {
      expect(l.stage).toBe('archive');
      expect(l.reason).toMatch(/^not archived \(offset 100\): event nests deeper than 1000 levels/);
      expect(l.event).toMatchObject({ event: 'keystroke', auth: { user_id: student } });
    }
  }, 60_000);

  it('that reaches the live archive path is dead-lettered, and the archive commits every other event', async () => {
    // A pipeline whose source checks nothing (as an older version's did): the deep event reaches the archive.
    const { dir, file } = demoDir(`deeplive${Date.now()}`);
    const { pipeline } = await compilePipelineFile(file);
    const sources = new Map([...pipeline!.sources].map(([n, src]) => [n, { ...src, validate: () => null, checkTime: undefined }]));
    const lax: CompiledPipeline = { ...pipeline!, sources };
    const sink = await WorkerArchiveSink.open(join(dir, 'archive'), { name: lax.name, text: lax.text, sources: lax.sources.keys() });
    const engine = new Engine(lax, { archive: sink });
    const errors: unknown[] = [];
    engine.on('archive-error', (e) => errors.push(e));
    await engine.ingest('batch', Array.from({ length: 100 }, (_, i) => keystroke(student, T0 + i * 1000)));
    await engine.ingest('batch', [JSON.parse(deepEventText(student, T0 + 100_000)) as LoEvent]);
    await engine.flush();
    await engine.ingest('batch', [keystroke(student, T0 + 101_000)]);
    await engine.flush();
    expect(engine.health()).toMatchObject({ ok: true, error: null });
    expect(engine.stats().unarchived).toBe(1);
    const letters = await engine.deadLetters.list();
    await engine.stop(); // commits the archive
    expect(errors).toEqual([]);
    expect((await archived(dir)).map((e) => e.offset)).toEqual([...Array.from({ length: 100 }, (_, i) => i), 101]);
    expect(letters.map((l) => [l.stage, l.reason.slice(0, 28)])).toEqual([['archive', 'not archived (offset 100): e']]);
  }, 60_000);

  it('is refused by every source: WebSocket and replay sources validate the same way', async () => {
    const { file } = demoDir(`deepsrc${Date.now()}`);
    const { pipeline } = await compilePipelineFile(file);
    const engine = new Engine(pipeline!);
    const deep = JSON.parse(deepEventText(student, T0)) as LoEvent;
    for (const source of ['extension', 'batch']) {
      const r = await engine.ingest(source, [deep, keystroke(student, T0)]);
      expect(r.rejected).toEqual([{ index: 0, reason: 'event nests deeper than 64 levels (max_depth)' }]);
      expect(r.accepted).toBe(1);
    }
    expect(engine.stats().rejected).toBe(2);
    await engine.stop();
  });
});

describe('a deeply nested WebSocket message', () => {
  it('is refused with its reason, and dead-lettered without crashing the server (file dead letters)', async () => {
    const name = `deepws${Date.now()}`;
    const { dir, args } = demoDir(name);
    const s = await serve(args);
    try {
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/wsapi/in/`);
      const messages: any[] = [];
      ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
      await new Promise((r, j) => (ws.on('open', r), ws.on('error', j)));
      const next = async (n: number) => {
        while (messages.length < n) await new Promise((r) => setTimeout(r, 10));
        return messages[n - 1];
      };
      ws.send(JSON.stringify({ event: 'lock_fields', fields: { user_id: student } }));
      expect(await next(1)).toMatchObject({ status: 'auth', user_id: student });
      ws.send(deepEventText(student, T0));
      expect(await next(2)).toEqual({ status: 'rejected', index: 0, reason: 'event nests deeper than 64 levels (max_depth)' });
      // A frame that is one 5,000-level array: "not an event", and its dead letter must not overflow JSON.stringify.
      ws.send(`[${'['.repeat(5000)}${']'.repeat(5000)}]`);
      expect(await next(3)).toEqual({ status: 'error', index: 1, error: 'an event must be a JSON object' });
      ws.close();
      for (let i = 0; deadLetters(dir, name).length < 2 && i < 250; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await health(s.url)).status).toBe(200);
      expect(deadLetters(dir, name).map((l) => [l.stage, l.reason])).toEqual([
        ['ingest', 'event nests deeper than 64 levels (max_depth)'],
        ['ingest', 'an event must be a JSON object'],
      ]);
    } finally {
      if (s.child.exitCode === null) await stop(s);
    }
  }, 60_000);
});

describe('the archive writer thread’s sink', () => {
  it('after an append it could not send to its thread, takes nothing more (no commit past the missed events)', async () => {
    const { dir } = demoDir(`deepsink${Date.now()}`);
    const spec = { name: 'p', text: 'pipeline: p\nkeys:\n  student: $.auth.user_id\n', sources: ['s'] };
    const sink = await WorkerArchiveSink.open(join(dir, 'archive'), spec);
    const ev = (offset: number, event: unknown) => ({ offset, stream: 's', at: offset, event: event as LoEvent });
    await sink.append('s', [ev(0, keystroke(student, 1))]);
    // Too deep for JSON.stringify and for postMessage's structured clone: never reaches the thread.
    await expect(sink.append('s', [ev(1, JSON.parse(deepEventText(student, 2)))])).rejects.toThrow(/archive append to 's'/);
    // Before: this append and commit went through, the commit recorded offset 2 and the engine truncated its
    // log past offset 1, which no archive ever got.
    await expect(sink.append('s', [ev(2, keystroke(student, 3))])).rejects.toThrow(/stopped after an append it could not send/);
    await expect(sink.commit()).rejects.toThrow(/stopped/);
    expect(sink.durableOffset()).toBe(-1);
    await sink.close();
    // Reopened, it continues from its last commit (none): the engine re-feeds from its log.
    const again = await WorkerArchiveSink.open(join(dir, 'archive'), spec);
    await again.append('s', [ev(0, keystroke(student, 1)), ev(2, keystroke(student, 3))]);
    await again.commit();
    expect(again.durableOffset()).toBe(2);
    await again.close();
  });
});

describe('structureProblem', () => {
  it('is iterative: a 1,000,000-level value does not overflow the check', () => {
    let v: unknown = [];
    for (let i = 0; i < 1_000_000; i++) v = [v];
    expect(structureProblem({ v }, 64, 10_000)).toBe('depth');
    const cut = cutDeep({ v }, 5) as { v: unknown };
    expect(JSON.stringify(cut)).toBe('{"v":[[[["[cut: nested deeper than 5 levels]"]]]]}');
  });

  it('counts depth from the event (level 1) and every value toward max_nodes', () => {
    const nest = (n: number) => {
      let v: unknown = {};
      for (let i = 1; i < n; i++) v = { a: v };
      return v;
    };
    expect(structureProblem(nest(64), 64, 10_000)).toBe(null);
    expect(structureProblem(nest(65), 64, 10_000)).toBe('depth');
    expect(structureProblem({ a: Array.from({ length: 9_998 }, () => 1) }, 64, 10_000)).toBe(null); // event + a + 9,998
    expect(structureProblem({ a: Array.from({ length: 9_999 }, () => 1) }, 64, 10_000)).toBe('nodes');
    expect(structureProblem({ event: 'keystroke', ts: 1, auth: { user_id: 'x' }, keystroke: { key: 'a' } }, 64, 10_000)).toBe(null);
  });
});
