// autocannon's programmatic API in a child process (see cannon.ts): `node cannon-child.js <options.json>`
// with { url, bodies, connections, seconds }; each connection cycles through the bodies. Prints the result.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const { url, bodies, connections, seconds } = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { url: string; bodies: string[]; connections: number; seconds: number };
const headers = { 'content-type': 'application/json' };
const r = await autocannon({ url, connections, duration: seconds, requests: bodies.map((body) => ({ method: 'POST', body, headers })) });
process.stdout.write(JSON.stringify({ rps: r.requests.average, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, non2xx: r.non2xx }));
