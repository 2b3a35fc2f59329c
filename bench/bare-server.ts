// The baseline of the ingest benches: node:http parsing the same JSON body and doing nothing else.
import { createServer } from 'node:http';

/** A bare node:http server that parses the same JSON body and does nothing else. */
export async function bareServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const events = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ accepted: events.length, rejected: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise((r) => server.close(() => r())) };
}
