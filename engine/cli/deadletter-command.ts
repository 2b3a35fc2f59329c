import { join, resolve } from 'node:path';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import { loadIdentityMap, planLetter, type IdentityMap } from '../deadletter/replay-letters.js';
import type { DeadLetter } from '../types.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow deadletter ls|replay <pipeline.yaml> [options]

Dead letters are events loflow refused or failed on, kept with the reason in
<data>/<pipeline>/deadletters.ndjson (never silently dropped).

  ls                       print them (stream, stage, reason, event); --limit N, --json
  replay --to URL          re-POST them to a running server's HTTP source (e.g. after fixing the
                           schema or the pipeline); each letter is sent once: a letter sent again
                           (a second replay, a retry) is dropped by the server as a duplicate; events
                           refused again become dead letters there. Kept, and listed with the reason:
                           letters with no event, blocklisted users, letters whose POST failed, and
                           letters without identity (a WebSocket that closed before its lock_fields)
                           that --identities does not resolve
Options:
  --data DIR   data folder (default .loflow)
  --key K      API key for the source (Authorization: Bearer K)
  --identities FILE   CSV path,value,user: a letter without identity whose event has <value> at
               <path> (e.g. $.metadata.sessionTag) is <user>'s; a Google id (gc-...) or email is
               mapped to the member id by the roster's aliases
  --help       this text`;

export const deadletterCommand: Command = {
  name: 'deadletter',
  summary: 'list refused events with their reasons, or re-feed them to a server',
  usage,
  requires: ['ls|replay', '<pipeline.yaml>'],
  flags: ['json'],
  async run({ positionals, options }) {
    const [sub, file] = positionals;
    const pipeline = await loadPipeline(file);
    if (!pipeline) return 1;
    const store = new FileDeadLetterStore(join(resolve(typeof options.data === 'string' ? options.data : '.loflow'), pipeline.name, 'deadletters.ndjson'));
    if (sub === 'ls') {
      const letters = await store.list(options.limit ? Number(options.limit) : Infinity);
      if (options.json) console.log(JSON.stringify(letters, null, 2));
      else for (const l of letters) console.log(`${new Date(l.at).toISOString()}  ${l.stream}  ${l.stage}  ${l.reason}\n    ${JSON.stringify(l.event).slice(0, 300)}`);
      console.error(`${letters.length} dead letters`);
      return 0;
    }
    if (sub === 'replay') {
      if (typeof options.to !== 'string') {
        console.error('deadletter replay needs --to http://host:port (a running loflow serve)');
        return 2;
      }
      const http = [...pipeline.sources.values()].filter((s) => s.kind === 'http');
      if (http.length === 0) {
        console.error(`pipeline '${pipeline.name}' has no http source to re-feed`);
        return 1;
      }
      let map: IdentityMap | undefined;
      try {
        if (typeof options.identities === 'string') map = loadIdentityMap(resolve(options.identities));
      } catch (err) {
        console.error((err as Error).message);
        return 2;
      }
      const letters = await store.list();
      const plans = letters.map((l) => planLetter(l, map, pipeline.identities));
      const tally = { accepted: 0, duplicates: 0, refused: 0, failed: 0 };
      const kept: Array<{ letter: DeadLetter; why: string }> = [];
      const elsewhere = new Set<string>();
      const send = async (i: number): Promise<void> => {
        const [l, plan] = [letters[i], plans[i]];
        if (!plan.send) return void kept.push({ letter: l, why: plan.why });
        const source = http.find((s) => s.name === l.stream) ?? http[0];
        if (source.name !== l.stream) elsewhere.add(`letters of '${l.stream}' went to http source '${source.name}'`);
        try {
          const res = await fetch(new URL(source.path ?? '/v1/events', options.to as string), {
            method: 'POST',
            body: JSON.stringify([plan.event]),
            headers: {
              'content-type': 'application/json',
              // One producer per letter, sequence 0: a second send of the letter is dropped by the server's log.
              'x-loflow-producer': plan.producer,
              'x-loflow-seq': '0',
              ...(typeof options.key === 'string' ? { authorization: `Bearer ${options.key}` } : {}),
            },
          });
          if (![200, 207, 422].includes(res.status)) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
          const r = (await res.json()) as { accepted: number; duplicates?: number; rejected: unknown[] };
          // `accepted` counts a duplicate too (valid, but already logged): only the rest is new.
          tally.accepted += r.accepted - (r.duplicates ?? 0);
          tally.duplicates += r.duplicates ?? 0;
          tally.refused += r.rejected.length;
        } catch (err) {
          tally.failed++;
          kept.push({ letter: l, why: `not sent: ${(err as Error).message}` });
        }
      };
      // A few at a time: each letter is its own request (its own producer id).
      for (let i = 0; i < letters.length; i += 8) await Promise.all(letters.slice(i, i + 8).map((_, j) => send(i + j)));
      // Only now are they taken out (a crash before this re-sends them next time: duplicates, dropped);
      // what was not sent goes back, in order, after any letter the server wrote meanwhile.
      const order = new Map(letters.map((l, i) => [l, i]));
      kept.sort((a, b) => order.get(a.letter)! - order.get(b.letter)!);
      await store.take(letters.length);
      await store.put(kept.map((k) => k.letter));
      for (const note of elsewhere) console.error(note);
      console.log(`re-fed ${letters.length - kept.length} letters: ${tally.accepted} accepted, ${tally.duplicates} already replayed before (dropped as duplicates), ${tally.refused} refused again (dead letters on the server)`);
      if (kept.length) {
        console.log(`kept ${kept.length} letters that could not be re-fed:`);
        for (const { letter: l, why } of kept) console.log(`  ${new Date(l.at).toISOString()}  ${l.stream}  ${l.reason}: ${why}\n      ${JSON.stringify(l.event).slice(0, 200)}`);
      }
      return tally.failed ? 1 : 0;
    }
    console.error(`unknown deadletter subcommand '${sub}'\n\n${usage}`);
    return 2;
  },
};
