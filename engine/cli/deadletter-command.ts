import { join, resolve } from 'node:path';
import { FileDeadLetterStore } from '../deadletter/file-deadletter.js';
import type { DeadLetter } from '../types.js';
import type { Command } from './command.js';
import { loadPipeline } from './load-pipeline.js';

const usage = `loflow deadletter ls|replay <pipeline.yaml> [options]

Dead letters are events loflow refused or failed on, kept with the reason in
<data>/<pipeline>/deadletters.ndjson (never silently dropped).

  ls                       print them (stream, stage, reason, event); --limit N, --json
  replay --to URL          take them out and POST their events again to a running server's HTTP
                           source (e.g. after fixing the schema or the pipeline); events refused again
                           become dead letters again there; letters with no event (unparsable input)
                           or whose POST fails are put back
Options:
  --data DIR   data folder (default .loflow)
  --key K      API key for the source (Authorization: Bearer K)
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
      const letters = await store.take();
      const keep: DeadLetter[] = [];
      const byPath = new Map<string, DeadLetter[]>();
      for (const l of letters) {
        if (l.event === null || l.event === undefined) {
          keep.push(l);
          continue;
        }
        const source = http.find((s) => s.name === l.stream) ?? http[0];
        const path = source.path ?? '/v1/events';
        byPath.set(path, [...(byPath.get(path) ?? []), l]);
      }
      let sent = 0;
      for (const [path, group] of byPath) {
        try {
          const res = await fetch(new URL(path, options.to), {
            method: 'POST',
            body: JSON.stringify(group.map((l) => l.event)),
            headers: { 'content-type': 'application/json', ...(typeof options.key === 'string' ? { authorization: `Bearer ${options.key}` } : {}) },
          });
          if (![200, 207, 422].includes(res.status)) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
          const r = (await res.json()) as { accepted: number; rejected: unknown[] };
          sent += group.length;
          console.error(`${path}: ${r.accepted} accepted, ${r.rejected.length} refused again (dead letters on the server)`);
        } catch (err) {
          console.error(`${path}: ${(err as Error).message}; ${group.length} letters put back`);
          keep.push(...group);
        }
      }
      await store.put(keep);
      console.log(`re-fed ${sent} events; ${keep.length} letters kept`);
      return keep.length && sent === 0 ? 1 : 0;
    }
    console.error(`unknown deadletter subcommand '${sub}'\n\n${usage}`);
    return 2;
  },
};
