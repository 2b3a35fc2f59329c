// `loflow replay --threads N` (parse workers, engine on the main thread) against the one-thread path, on the
// real binary: the same bytes out, the same counts and first errors, on a file with every kind of line.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './run-cli.js';

const pipeline = 'pipelines/writing-observer.yaml';

/** Everything on stderr but the timing: the rate and seconds, and the clock in a too-late event's reason. */
const untimed = (stderr: string) => stderr.replace(/ in [\d.]+ s: [\d,]+ events\/s/, '').replace(/later than [\dT:.Z-]+ \(arrival/g, 'later than (now) (arrival');

/**
 * A generated classroom with, spread over several 1 MiB blocks: lines that are not JSON, blank and
 * whitespace-only lines, CRLF line ends, events the schema refuses, an event time far past the clock skew,
 * non-ASCII text typed into documents (so the rebuilt texts depend on it), bare events, a wrapper with its keys
 * the other way round for the other source, a line longer than a block, and no line end at the end.
 */
function mixedFile(dir: string, generated: string): { file: string; valid: number } {
  const lines = readFileSync(generated, 'utf8').trimEnd().split('\n');
  let valid = lines.length;
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (l.includes('"google_docs_save"') && i % 3 === 0) l = l.replace('"s":"', '"s":"é✓ ');
    if (i % 997 === 5) l = JSON.stringify(JSON.parse(l).event); // bare event, for the default source
    if (i % 1511 === 7) {
      const w = JSON.parse(l);
      l = JSON.stringify({ event: w.event, stream: 'batch' });
    }
    if (i % 1201 === 3) l += '\r';
    out.push(l);
    if (i % 1000 === 11) out.push('not json {');
    if (i % 1300 === 12) out.push('', '   \t');
    if (i % 1700 === 13) out.push('{"no_event":1}', '{"event":"keystroke","auth":{"user_id":"s-0001"},"ts":99999999999999}');
  });
  const long = JSON.parse(lines[1]).event;
  long.padding = 'x'.repeat(1_500_000);
  out.splice(Math.floor(out.length / 2), 0, JSON.stringify(long));
  valid += 1;
  const file = join(dir, 'mixed.ndjson');
  writeFileSync(file, out.join('\n')); // no line end after the last line
  return { file, valid };
}

describe('loflow replay --threads', () => {
  it('gives the same result bytes, counts and first errors as one thread, in file order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-threads-'));
    const generated = join(dir, 'generated.ndjson');
    expect((await run('generate', '--events', '12000', '--seed', '5', '--out', generated)).code).toBe(0);
    const { file, valid } = mixedFile(dir, generated);
    const one = await run('replay', pipeline, file, '--threads', '1', '--out', join(dir, 'one.json'), '--no-log');
    expect(one.code).toBe(0);
    // Every kind of bad line was met and reported, never dropped silently.
    expect(one.stderr).toMatch(new RegExp(`replayed ${valid.toLocaleString('en')} events .*\\(16 rejected by schema, 12 not JSON, 0 reducer failures`));
    expect(one.stderr).toMatch(/line \d+: not JSON/);
    expect(one.stderr).toMatch(/must have 'event'/);
    const oneJson = readFileSync(join(dir, 'one.json'), 'utf8');
    const result = JSON.parse(oneJson);
    expect(Object.values(result.reducers.events as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(valid);
    // The rebuilt texts count the non-ASCII characters typed (their lengths are in the result).
    expect(readFileSync(file, 'utf8').split('é✓').length - 1).toBeGreaterThan(100);
    // auto: a file under 16 MiB is parsed on the main thread, without workers.
    for (const threads of ['2', '3', 'auto']) {
      const many = await run('replay', pipeline, file, '--threads', threads, '--out', join(dir, `threads-${threads}.json`), '--no-log');
      expect(many.code).toBe(0);
      if (threads === 'auto') expect(many.stderr).not.toContain('worker threads');
      else expect(many.stderr).toContain(`parsed and checked in ${threads} worker threads`);
      expect(untimed(many.stderr).replace(/ {2}parsed and checked in \d+ worker threads\n/, '')).toBe(untimed(one.stderr));
      expect(readFileSync(join(dir, `threads-${threads}.json`), 'utf8')).toBe(oneJson);
    }
  }, 300_000);

  it('refuses a thread count that is not one', async () => {
    const r = await run('replay', pipeline, 'no-such-file.ndjson', '--threads', '0', '--no-log');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--threads must be a whole number from 1 to 64, or auto \(got '0'\)/);
  });
});
