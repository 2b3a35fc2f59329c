// `npm run build` bundles, with esbuild: yaml and cel-js into one ES module each (dist/vendor/), and the
// `validate` and `test` commands with every loflow module they need (dist/cli-fast/). Resolving and loading
// files was most of a cold start: yaml's ~60 files took 73 ms of CPU, 15 ms as one file; cel-js's ~40,
// 67 ms and 30 ms; validate's ~90 own modules as one file saved ~90 ms more (issue #15.1, measured on the
// loaded 2-core box). The shims next to this file load the bundles when they are there (built loflow) and
// the packages and modules otherwise (sources under vitest/tsx). Other packages stay outside the bundles.
import { readFileSync, rmSync } from 'node:fs';
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

/** Commands run from a bundle: the ones a user runs often from a cold start. */
const fastCommands = ['validate-command', 'test-command'];

async function bundleCommands(): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  const outside = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((n) => n !== 'yaml' && n !== '@marcbachmann/cel-js');
  const outdir = join(packageRoot, 'dist/cli-fast');
  rmSync(outdir, { recursive: true, force: true }); // chunks are named by content hash: no stale ones
  await build({
    entryPoints: fastCommands.map((c) => join(packageRoot, `dist/engine/cli/${c}.js`)),
    bundle: true,
    splitting: true, // what both share (the compiler, operators) is one chunk; dynamic imports stay lazy chunks
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir,
    external: outside.flatMap((n) => [n, `${n}/*`]),
    alias: { yaml: entries.yaml, '@marcbachmann/cel-js': entries['cel-js'] },
    logLevel: 'error',
  });
  return outdir;
}

export async function bundleVendors(): Promise<string[]> {
  const written: string[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = join(packageRoot, `dist/vendor/${name}.js`);
    await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', target: 'node20', outfile, logLevel: 'warning' });
    written.push(outfile);
  }
  written.push(await bundleCommands());
  return written;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  bundleVendors().then((fs) => console.error(`wrote ${fs.join(', ')}`));
}
