// `npm run build` bundles yaml and cel-js into one ES module each (dist/vendor/), with esbuild. Their
// packages are ~60 and ~40 files: resolving and loading them was a third of a cold `loflow validate`
// (measured: yaml 73 ms of CPU as files, 15 ms as one file; cel-js 67 ms, 30 ms). The shims next to this
// file load the bundle when it is there (built loflow) and the package otherwise (sources under vitest/tsx).
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { packageRoot } from '../paths.js';

const yamlDir = dirname(createRequire(import.meta.url).resolve('yaml/package.json'));

/** yaml's own ES module build (its `node` export is CommonJS, which esbuild cannot turn into ESM exports). */
const entries: Record<string, string> = {
  yaml: join(yamlDir, 'browser/index.js'),
  'cel-js': fileURLToPath(import.meta.resolve('@marcbachmann/cel-js')),
};

export async function bundleVendors(): Promise<string[]> {
  const written: string[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = join(packageRoot, `dist/vendor/${name}.js`);
    await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', target: 'node20', outfile, logLevel: 'warning' });
    written.push(outfile);
  }
  return written;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  bundleVendors().then((fs) => console.error(`wrote ${fs.join(', ')}`));
}
