// The input of a shadow run: an archive's raw streams (.car) or an NDJSON file, as {stream, event} lines
// in order. Lines that are not JSON are counted, never silently skipped.
import { openArchive } from '../../archive/replay-source.js';
import { readNdjson, unwrap } from '../ndjson.js';
import type { LoEvent } from '../types.js';

export interface InputLine {
  stream: string;
  event: LoEvent;
}

export interface InputReport {
  notJson: number;
  firstErrors: string[];
}

/** Chunks of input lines; `report` fills as the file is read. */
export async function* readInput(file: string, defaultStream: string, sources: string[], report: InputReport, size = 4096): AsyncGenerator<InputLine[]> {
  if (file.endsWith('.car')) {
    const archive = await openArchive(file, { keyOptions: {} }); // encrypted: keys from LOFLOW_MASTER_KEY_FILE / LOFLOW_MASTER_KEY
    let batch: InputLine[] = [];
    for await (const e of archive.events(sources)) {
      batch.push({ stream: e.stream, event: e.event });
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
    return;
  }
  for await (const chunk of readNdjson(file, size)) {
    const out: InputLine[] = [];
    for (const l of chunk) {
      if (l.error) {
        report.notJson++;
        if (report.firstErrors.length < 5) report.firstErrors.push(l.error);
        continue;
      }
      const u = unwrap(l.value, defaultStream);
      out.push({ stream: u.stream, event: u.event as LoEvent });
    }
    if (out.length) yield out;
  }
}
