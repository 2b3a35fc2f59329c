// The demo pipeline with a roster that declares identity aliases (google_id, email), in a folder of its own.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePipeline } from '../../engine/compiler.js';
import { demoPipeline } from './server-fixture.js';

export const aliasRoster = ['student,class,teacher,name,google_id,email', 's-0001,class-a,t-ada,Ada,104729,Ada@School.org', 's-0002,class-a,t-ada,Bo,gc-2203,bo@school.org', 's-0003,class-b,t-bo,Cy,,dev-cy'].join('\n') + '\n';

/** The demo pipeline in a folder of its own, its roster replaced and given `aliases`. */
export async function aliasPipeline(csv = aliasRoster, aliases = '[google_id, email]') {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-aliases-'));
  writeFileSync(join(dir, 'roster.csv'), csv);
  const text = readFileSync(demoPipeline, 'utf8').replace(/demo: \{ file: rosters\/demo.csv \}/, `demo: { file: roster.csv, aliases: ${aliases} }`);
  const file = join(dir, 'p.yaml');
  writeFileSync(file, text);
  return { ...(await compilePipeline(text, file)), file, dir };
}

