// Where a vendored bundle of a dependency is, if the build made it (see build.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/** The bundle's path when it exists and this module runs from dist/ (sources keep the package itself). */
export function vendorBundle(name: string): string | undefined {
  if (!import.meta.url.includes('/dist/engine/vendor/')) return undefined;
  const file = join(packageRoot, `dist/vendor/${name}.js`);
  return existsSync(file) ? file : undefined;
}
