import type { Command } from './command.js';

const usage = `loflow tap <server-url> <node> [options]

Streams a live sample of what passes a node of a running pipeline, one JSON object per line, for
debugging: a source or derived stream shows its events, a reducer its state changes (key and view).
Sampled on the server (at most --rate items per second; each line says how many were dropped since the
previous one), so a tap never slows ingest.

Options:
  --key K      only events or states at key K (a student, a class, a student|document ...)
  --limit N    stop after N items
  --rate R     items per second at most (default 20)
  --token T    admin token (serve --admin-token; env LOFLOW_ADMIN_TOKEN)
  --help       this text
Exit 0 at the limit or when the server ends the tap, 1 when refused (the reason is printed).`;

export const tapCommand: Command = {
  name: 'tap',
  summary: 'stream a live sample of the events or state changes at a node of a running pipeline',
  usage,
  async run({ positionals, options }) {
    const [server, node] = positionals;
    if (!node) {
      console.error(`need a server URL and a node\n\n${usage}`);
      return 2;
    }
    const token = typeof options.token === 'string' ? options.token : process.env.LOFLOW_ADMIN_TOKEN;
    const limit = options.limit === undefined ? Infinity : Number(options.limit);
    if (!(limit > 0)) {
      console.error(`--limit must be a positive number, not '${options.limit}'`);
      return 2;
    }
    const url = new URL(`/v1/tap/${encodeURIComponent(node)}`, server);
    for (const name of ['key', 'limit', 'rate'] as const) if (typeof options[name] === 'string') url.searchParams.set(name, options[name] as string);
    const controller = new AbortController();
    let res: Response;
    try {
      res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: controller.signal });
    } catch (err) {
      console.error(`cannot reach ${server}: ${(err as Error).message}`);
      return 1;
    }
    if (res.status !== 200) {
      const body = await res.text();
      let reason = body;
      try {
        reason = JSON.parse(body).error ?? body;
      } catch {
        /* not JSON: print as is */
      }
      console.error(`tap refused (${res.status}): ${reason}`);
      return 1;
    }
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    let got = 0;
    let rest = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        rest += Buffer.from(chunk).toString('utf8');
        let end: number;
        while ((end = rest.indexOf('\n\n')) !== -1) {
          const frame = rest.slice(0, end);
          rest = rest.slice(end + 2);
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          const m = JSON.parse(data);
          if (m.type === 'tap') {
            console.error(`tapping ${m.kind} '${m.node}'${m.key ? ` at key '${m.key}'` : ''} (at most ${m.rate}/s)`);
            continue;
          }
          console.log(JSON.stringify(m));
          if (++got >= limit) {
            controller.abort();
            return 0;
          }
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') {
        console.error(`tap ended: ${(err as Error).message}`);
        return 1;
      }
    } finally {
      process.off('SIGINT', stop);
    }
    return 0;
  },
};
