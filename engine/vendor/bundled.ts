// Where the build's one-file bundles are (build.ts makes them and says why), if this is built loflow.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/** A vendored dependency's bundle, when this module runs from dist/ (sources keep the package itself). */
export function vendorBundle(name: string): string | undefined {
  if (!import.meta.url.includes('/dist/engine/vendor/')) return undefined;
  const file = join(packageRoot, `dist/vendor/${name}.js`);
  return existsSync(file) ? file : undefined;
}

/**
 * A command's bundle (`dist/cli-fast/validate-command.cjs`), loaded with V8's code cache (code-cache.ts): the
 * command with every loflow module it needs in one file. Undefined when there is none (sources, or a build
 * without bundles). LOFLOW_CLI_BUNDLE=0 runs the modules as files (what the bundle is made of: a test
 * records them).
 */
export async function commandBundle<M>(module: string): Promise<M | undefined> {
  if (process.env.LOFLOW_CLI_BUNDLE === '0' || !import.meta.url.includes('/dist/engine/vendor/')) return undefined;
  const file = join(packageRoot, `dist/cli-fast/${module}.cjs`);
  if (!existsSync(file)) return undefined;
  const { requireCached } = await import('./code-cache.js');
  return requireCached(file).exports as M;
}
