// Where the package's own files are, whether this runs from dist/ (built) or from the sources (tests).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('loflow: cannot find its package.json');
    dir = up;
  }
  return dir;
}

/** The folder holding loflow's package.json, pipelines/ and schemas/. */
export const packageRoot: string = findRoot();
