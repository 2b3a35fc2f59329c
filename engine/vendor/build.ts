// `npm run build` bundles, with esbuild: yaml and cel-js into one ES module each (dist/vendor/), and the
// `validate` and `test` commands with every loflow module they need into one CommonJS file each
// (dist/cli-fast/). Resolving and loading files was most of a cold start: yaml's ~60 files took 73 ms of
// CPU, 15 ms as one file; cel-js's ~40, 67 ms and 30 ms; validate's ~90 own modules as one file saved ~90 ms
// more (issue #15.1, measured on the loaded 2-core box). The command bundles are CommonJS so that
// code-cache.ts can run them through vm.Script with V8's code cache (Node 20 has no compile cache for ES
// modules). The shims next to this file load the bundles when they are there (built loflow) and the
// packages and modules otherwise (sources under vitest/tsx). Other packages stay outside the bundles.
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { packageRoot } from '../paths.js';

const yamlDir = dirname(createRequire(import.meta.url).resolve('yaml/package.json'));

/** yaml's own ES module build (its `node` export is CommonJS, which esbuild cannot turn into ESM exports). */
const entries: Record<string, string> = {
  yaml: join(yamlDir, 'browser/index.js'),
  'cel-js': fileURLToPath(import.meta.resolve('@marcbachmann/cel-js')),
};

/** Commands run from a bundle: the ones a user runs often from a cold start. */
const fastCommands = ['validate-command', 'test-command'];

/**
 * In a command bundle the vendor shims (yaml.ts, cel-js.ts) become plain re-exports: their top-level await
 * picks a file at run time, which CommonJS cannot express and a bundle does not need (it holds the package).
 */
const staticShims: Plugin = {
  name: 'loflow-static-vendor-shims',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]engine[\\/]vendor[\\/](yaml|cel-js)\.js$/ }, (a) => ({
      contents: `export * from '${a.path.endsWith('yaml.js') ? 'yaml' : '@marcbachmann/cel-js'}';`,
      resolveDir: dirname(a.path),
      loader: 'js',
    }));
  },
};

async function bundleCommands(): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  const outside = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((n) => n !== 'yaml' && n !== '@marcbachmann/cel-js');
  const outdir = join(packageRoot, 'dist/cli-fast');
  rmSync(outdir, { recursive: true, force: true }); // no stale files from an older layout
  await build({
    entryPoints: fastCommands.map((c) => join(packageRoot, `dist/engine/cli/${c}.js`)),
    bundle: true,
    format: 'cjs', // one file per command, no shared chunks: each is one vm.Script with one code cache
    platform: 'node',
    target: 'node20',
    outdir,
    outExtension: { '.js': '.cjs' },
    external: outside.flatMap((n) => [n, `${n}/*`]),
    alias: { yaml: entries.yaml, '@marcbachmann/cel-js': entries['cel-js'] },
    plugins: [staticShims],
    // import.meta.url (paths.ts finds the package root from it; createRequire resolves from it) is the
    // bundle's own URL, which the loader's wrapper defines.
    define: { 'import.meta.url': '__loflowBundleUrl' },
    banner: { js: 'var __loflowBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    logLevel: 'error',
  });
  for (const c of fastCommands) {
    // An import() in a bundle breaks once it runs from the code cache: engine/import-module.ts says why.
    const text = readFileSync(join(outdir, `${c}.cjs`), 'utf8').replace('__loflowImport(specifier) : import(specifier)', '');
    const at = text.search(/(?<![\w$.])import\(/);
    if (at >= 0) throw new Error(`dist/cli-fast/${c}.cjs has an import() (offset ${at}): use importModule from engine/import-module.ts`);
  }
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
