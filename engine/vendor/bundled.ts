// Where the build's one-file bundles are (build.ts makes them and says why), if this is built loflow.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../paths.js';

/** A vendored dependency's bundle, when this module runs from dist/ (sources keep the package itself). */
export function vendorBundle(name: string): string | undefined {
  if (!import.meta.url.includes('/dist/engine/vendor/')) return undefined;
  const file = join(packageRoot, `dist/vendor/${name}.js`);
  return existsSync(file) ? file : undefined;
}

/**
 * A command's bundle (`dist/cli-fast/validate-command.js`) as a URL to import: the command with every loflow
 * module it needs in one file. LOFLOW_CLI_BUNDLE=0 runs the modules as files (what the bundle is made of: a
 * test records them).
 */
export function commandBundle(module: string): string | undefined {
  if (process.env.LOFLOW_CLI_BUNDLE === '0' || !import.meta.url.includes('/dist/engine/vendor/')) return undefined;
  const file = join(packageRoot, `dist/cli-fast/${module}.js`);
  return existsSync(file) ? pathToFileURL(file).href : undefined;
}
