// TCP proxies that split a network by source address, run as a child process of a test (so that a test's
// synchronous calls, e.g. execFileSync('redis-cli'), never stall the traffic passing through). Each Redis node
// of a split test listens on its own loopback address (127.0.0.x) and connects out from it, so a proxy in
// front of a node knows which node a connection comes from.
//
// Commands, one JSON object per line on stdin, each answered by one JSON line on stdout:
//   {"proxy": {"host": "127.0.0.2", "port": 7000}}   → {"port": <the proxy's port on host>}
//   {"isolate": "127.0.0.2"}   → cut every connection between that address and the other nodes' ones (both
//                                ways; connections from other addresses, e.g. clients on 127.0.0.1, pass)
//   {"heal": true}             → let everything pass again
import { createServer, connect } from 'node:net';
import { createInterface } from 'node:readline';

const nodes = new Set(); // the nodes' addresses (those of the proxied servers)
let isolated = null;
const open = new Set();

const cutOff = (from, to) => isolated !== null && from !== to && nodes.has(from) && nodes.has(to) && (from === isolated || to === isolated);

function proxy(host, port) {
  nodes.add(host);
  const server = createServer((client) => {
    const from = (client.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (cutOff(from, host)) return void client.destroy();
    const upstream = connect(port, host);
    const link = { from, to: host, client, upstream };
    open.add(link);
    client.pipe(upstream);
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      s.on('error', () => undefined); // a reset is the point
      s.on('close', () => {
        open.delete(link);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve(server.address().port)));
}

const say = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.proxy) say({ port: await proxy(cmd.proxy.host, cmd.proxy.port) });
  else if (cmd.isolate) {
    isolated = cmd.isolate;
    for (const l of open) if (cutOff(l.from, l.to)) l.client.destroy();
    say({ ok: true });
  } else if (cmd.heal) {
    isolated = null;
    say({ ok: true });
  }
});
process.stdin.on('end', () => process.exit(0));
