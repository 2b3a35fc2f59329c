import type { Command } from './command.js';

const usage = `loflow bench [--quick] [--only a,b] [--out DIR] [--checkpoint URL]     (npm run bench)

Load-tests loflow against baselines measured in the same run and writes bench/results/<date>.json,
a Markdown report with figure, baseline, ratio and goal, and SVG plots. Every workload starts and stops
its own servers (a throwaway redis-server on a free loopback port) and stops by itself.

Workloads: replay, operators, redis, http-ingest, ws-ingest, ws10k, dashboard-latency, dashboard-load, memory,
archive, recovery, soak (in --quick: 6 seconds), cli (cold start of --help, validate, test), scale (1 and 2
workers on a 3-node Redis Cluster, takeover after a worker SIGKILL).
Options:
  --quick      a smoke run (under 2 minutes; CI runs it and asserts nothing about speed)
  --only LIST  run only these workloads
  --out DIR    where to write the report (default bench/results; --quick: bench/results/quick, git-ignored)
  --checkpoint URL  also time recovery with \`serve --checkpoint URL\` (e.g. postgres://...), besides the
               file log
  --duration D  soak: how long to hold half the maximum load (default 30m; e.g. 90s, 5m, 1h)
  --rate N     soak: offer N events/s instead of measuring the maximum first
  --sockets N  ws10k: student sockets (default 10000; --quick 1000), each at 1 and 10 events/s
  --rates R,R  ws10k: the per-socket rates to offer instead (e.g. 1,2.5)
  --keep-profile DIR  ws10k: keep the server's CPU profile there
  --help       this text`;

export const benchCommand: Command = {
  name: 'bench',
  summary: 'run the benchmark suite and write a report with baselines and plots',
  usage,
  flags: ['quick'],
  async run({ options }) {
    // Loaded on demand: the load generators (autocannon, ...) are dev dependencies.
    const { runBench } = await import('../../bench/run.js');
    const r = await runBench({
      quick: options.quick === true,
      only: typeof options.only === 'string' ? options.only.split(',') : undefined,
      out: typeof options.out === 'string' ? options.out : undefined,
      checkpoints: typeof options.checkpoint === 'string' ? [options.checkpoint] : [],
      options,
    });
    console.error(`report: ${r.file}`);
    return r.failed ? 1 : 0;
  },
};
