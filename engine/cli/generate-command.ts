import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Classroom } from '../classroom.js';
import type { Command } from './command.js';
import { Progress } from './progress.js';

const usage = `loflow generate [options]

Writes a deterministic synthetic classroom (students typing in Google Docs, in Learning Observer's
event shapes) as NDJSON, one {"stream", "event"} per line. Same options -> same bytes.

Options:
  --events N      number of events (default 100000)
  --students N    number of students, ids s-0000... (default 200, the demo roster's size)
  --seed N        random seed (default 1)
  --stream NAME   source name written with each event (default extension)
  --out FILE      output file (default stdout)
  --help          this text`;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'write a synthetic classroom event stream as NDJSON',
  usage,
  async run({ options }) {
    const count = Number(options.events ?? 100_000);
    const classroom = new Classroom({
      students: Number(options.students ?? 200),
      seed: Number(options.seed ?? 1),
      stream: typeof options.stream === 'string' ? options.stream : 'extension',
    });
    const out = typeof options.out === 'string' ? createWriteStream(options.out) : process.stdout;
    let buf = '';
    let n = 0;
    const progress = new Progress('generate', count); // on a terminal only: stderr, never the NDJSON
    for (const e of classroom.events(count)) {
      buf += JSON.stringify(e) + '\n';
      if (++n % 4096 === 0) progress.update(n);
      if (buf.length > 1 << 20) {
        if (!out.write(buf)) await once(out, 'drain');
        buf = '';
      }
    }
    out.write(buf);
    progress.done();
    if (out !== process.stdout) {
      (out as NodeJS.WritableStream).end();
      await once(out, 'finish');
    }
    return 0;
  },
};
