// Done-when of issue #13: a client that behaves as lo_event does (backlog first, identity last on every
// reconnect) has its socket dropped and reopened twice mid-stream. Every event it wrote is counted in the
// states or kept as a dead letter with its reason and the connection's metadata (and in /metrics); none
// counts twice. `loflow deadletter replay --identities` then re-feeds the unidentified ones (the map names
// the lo_event session, the roster's aliases turn the Google id into the member), and a second replay
// counts nothing again.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../cli/run-cli.js';
import { serveChild, until } from '../hardening/serve-child.js';
import { aliasPipeline } from './alias-fixture.js';
import { LoEventClient } from './lo-event-client.js';

const keystroke = (c: LoEventClient, i: number) => c.logEvent('keystroke', { keystroke: { type: 'keydown', key: 'abcdefghij'[i % 10] }, doc_id: 'doc-1', n: i });

describe('an lo_event client across two dropped sockets', () => {
  it('loses nothing, counts nothing twice, and the unidentified backlog is re-fed once by deadletter replay', async () => {
    const { file, dir } = await aliasPipeline();
    const s = await serveChild(['--ws-identity', 'chromebook', '--demo-tokens', '--demo'], {}, file);
    try {
      const c = new LoEventClient(`ws://127.0.0.1:${s.port}/wsapi/in/`);
      // lo_event.init: source and version, then the extension's metadata (its Chromebook identity).
      c.setFieldSet({ source: 'org.mitros.writing_analytics', version: '1.0' });
      c.setFieldSet({ chrome_identity: { email: '', id: '104729' }, user_tag: 'dev-1' });
      let n = 0;
      for (; n < 5; n++) keystroke(c, n);

      // Socket 1: lock fields first (queued at init), the events, the re-sent lock fields; more events; drop.
      await c.open();
      for (; n < 8; n++) keystroke(c, n);
      await c.flush(c.pending() - 1, false); // everything but the last event, then the network drops
      await until(() => c.received.some((m) => m.status === 'auth'));
      expect(c.received.find((m) => m.status === 'auth')).toEqual({ status: 'auth', user_id: 's-0001' });
      await c.drop();

      // While offline the extension keeps logging.
      for (; n < 15; n++) keystroke(c, n);
      // Socket 2: the backlog goes first, the lock fields last; it drops before they are sent.
      await c.open();
      const backlog = c.pending();
      await c.flush(5);
      expect(c.sent.filter((x) => x.conn === 2).every((x) => x.frame.event === 'keystroke')).toBe(true);
      const unidentified = c.sent.filter((x) => x.conn === 2).map((x) => x.frame.n);
      expect(unidentified).toEqual([7, 8, 9, 10, 11]);
      expect(c.pending()).toBe(backlog - 5); // the rest and that socket's lock fields stay queued

      // Socket 3: the rest of the backlog, two lock_fields (socket 2's and its own), then live events.
      await c.open();
      for (; n < 20; n++) keystroke(c, n);
      await c.flush();
      await c.close();
      const written = c.sent.filter((x) => x.frame.event === 'keystroke').map((x) => x.frame.n);
      expect(written.slice().sort((a, b) => a - b)).toEqual([...Array(20).keys()]); // each written once

      // The unidentified five are dead letters with the reason and the connection; the rest are counted.
      const letters = await until(() => s.deadLetters().length === 5 && s.deadLetters());
      expect(letters.map((l: any) => l.event.n)).toEqual(unidentified);
      for (const l of letters) {
        expect(l.reason).toBe('no identity before the connection closed');
        expect(l.event.connection).toMatchObject({ ip: '127.0.0.1' });
        expect(l.event.metadata.sessionTag).toBe(c.sessionTag);
      }
      expect(await s.metrics()).toMatch(/loflow_events_rejected_total\{source="extension",reason="no_identity"\} 5\n/);
      const events = async () => {
        const d = await (await fetch(`${s.url}/v1/dashboards/overview/class-a`, { headers: { authorization: 'Bearer demo-t-ada' } })).json();
        return d.rows.find((r: any) => r.member === 's-0001')?.events;
      };
      await until(async () => (await events()) === 15);

      // The map says whose session it was (a Google id: the roster's google_id alias names the member).
      const map = join(dir, 'identities.csv');
      writeFileSync(map, `path,value,user\n$.metadata.sessionTag,${c.sessionTag},gc-104729\n`);
      const replay = await run('deadletter', 'replay', file, '--data', s.data, '--to', s.url, '--identities', map);
      expect(replay.code).toBe(0);
      expect(replay.stdout).toMatch(/re-fed 5 letters: 5 accepted, 0 already replayed/);
      await until(async () => (await events()) === 20);
      expect(s.deadLetters()).toEqual([]);

      // Replayed twice (the letters written back, as if the first run had crashed before removing them).
      writeFileSync(join(s.data, 'writing-observer', 'deadletters.ndjson'), letters.map((l: any) => JSON.stringify(l)).join('\n') + '\n');
      const again = await run('deadletter', 'replay', file, '--data', s.data, '--to', s.url, '--identities', map);
      expect(again.stdout).toMatch(/re-fed 5 letters: 0 accepted, 5 already replayed before/);
      await new Promise((r) => setTimeout(r, 300));
      expect(await events()).toBe(20);
    } finally {
      await s.stop();
    }
  }, 180_000);

  it('says which letters it cannot resolve and keeps them', async () => {
    const { file, dir } = await aliasPipeline();
    const s = await serveChild(['--ws-identity', 'chromebook'], {}, file);
    try {
      const c = new LoEventClient(`ws://127.0.0.1:${s.port}/wsapi/in/`);
      for (let i = 0; i < 3; i++) keystroke(c, i);
      await c.open();
      await c.flush(3); // never identified: no lock fields at all
      await until(() => s.deadLetters().length === 3);
      const map = join(dir, 'identities.csv');
      writeFileSync(map, `path,value,user\n$.metadata.sessionTag,someone-else,gc-104729\n`);
      const r = await run('deadletter', 'replay', file, '--data', s.data, '--to', s.url, '--identities', map);
      expect(r.stdout).toMatch(/re-fed 0 letters/);
      expect(r.stdout).toMatch(/kept 3 letters that could not be re-fed:/);
      expect(r.stdout.match(/no identity before the connection closed: no row of the identity map matches it/g)).toHaveLength(3);
      expect(s.deadLetters()).toHaveLength(3);
      const none = await run('deadletter', 'replay', file, '--data', s.data, '--to', s.url);
      expect(none.stdout).toMatch(/no identity: give --identities map.csv/);
      expect(s.deadLetters()).toHaveLength(3);
    } finally {
      await s.stop();
    }
  }, 180_000);
});
