// `node --import ./import-recorder.mjs ...`: appends every resolved module URL to $LOFLOW_IMPORT_LOG, one a line,
// so a test can see what a command loaded (ESM has no require.cache to look at).
import { register } from 'node:module';

register(new URL('./import-recorder-hooks.mjs', import.meta.url), { data: { log: process.env.LOFLOW_IMPORT_LOG } });
