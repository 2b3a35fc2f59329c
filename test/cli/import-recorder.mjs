// `node --import ./import-recorder.mjs ...`: appends every resolved module URL to $LOFLOW_IMPORT_LOG, one a line,
// so a test can see what a command loaded (ESM has no require.cache to look at). The module hooks see only
// ES modules, so at exit the CommonJS ones (require.cache: what createRequire loaded) are added.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const log = process.env.LOFLOW_IMPORT_LOG;
register(new URL('./import-recorder-hooks.mjs', import.meta.url), { data: { log } });
process.on('exit', () => {
  const cache = createRequire(import.meta.url)('node:module')._cache;
  if (log) appendFileSync(log, Object.keys(cache).map((f) => `${pathToFileURL(f).href}\n`).join(''));
});
