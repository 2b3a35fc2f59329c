// Issue #15.1: `--help` and `validate` load no command but their own and none of the heavy dependencies
// (the import recorder hook lists every module the real binary resolves); the command table's summaries
// match the commands; a mistyped command gets a did-you-mean.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { commands } from '../../engine/cli/commands.js';
import { bin, root, run } from './run-cli.js';

const heavy = ['@dbos-inc', '@hapi', 'helia', '@helia', 'ipfs-car', 'ioredis', 'pg', 'pg-pool', '@ipld', 'multiformats', 'ws', 'pino', 'prom-client', 'ajv', 'tsx', 're2js'];

/**
 * The packages (node_modules/<name>) and loflow modules (dist/...) a `loflow ...args` run resolved. The
 * shipped schemas' standalone validators require two of ajv's runtime helpers (ajv/dist/runtime/*, and
 * fast-deep-equal): a few hundred bytes, not ajv, so they do not count as loading ajv.
 */
async function imported(env: Record<string, string>, ...args: string[]): Promise<{ packages: Set<string>; own: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'loflow-imports-'));
  const log = join(dir, 'imports.txt');
  try {
    await promisify(execFile)('node', ['--import', join(root, 'test/cli/import-recorder.mjs'), bin, ...args], {
      cwd: root,
      env: { ...process.env, LOFLOW_CACHE_DIR: join(dir, 'cache'), ...env, LOFLOW_IMPORT_LOG: log },
    });
    const urls = readFileSync(log, 'utf8').trim().split('\n').filter((u) => !/node_modules\/(ajv\/dist\/runtime|fast-deep-equal)\//.test(u));
    const packages = new Set(urls.flatMap((u) => [...u.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].map((m) => m[1])));
    return { packages, own: urls.filter((u) => u.includes('/dist/')).map((u) => u.replace(/.*\/dist\//, '')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('cold start', () => {
  it('validate of the demo pipeline imports no heavy dependency and no other command', async () => {
    // The modules as files (LOFLOW_CLI_BUNDLE=0): what the build bundles for validate, seen module by module.
    const { packages, own } = await imported({ LOFLOW_CLI_BUNDLE: '0' }, 'validate', 'pipelines/writing-observer.yaml');
    // The recorder works: validate's own dependencies are seen, as their one-file bundles (engine/vendor/build.ts).
    expect(own).toEqual(expect.arrayContaining(['vendor/yaml.js', 'vendor/cel-js.js']));
    expect(packages.has('yaml') || packages.has('@marcbachmann/cel-js'), 'validate loaded a vendored package from its files').toBe(false);
    for (const p of heavy) expect(packages.has(p), `validate imported ${p}`).toBe(false);
    expect(own.filter((f) => f.startsWith('engine/cli/') && f.endsWith('-command.js'))).toEqual(['engine/cli/validate-command.js']);
    expect(own.some((f) => f.startsWith('engine/server/') || f.startsWith('archive/') && f !== 'archive/learners.js')).toBe(false);
  });

  it('validate runs from its bundle by default, which leaves the heavy dependencies out too', async () => {
    // The bundle is run by vm.Script (engine/vendor/code-cache.ts), not imported: no module loader sees it,
    // and no loflow module but the command table, its door and the bundle loader is loaded as a file.
    const { packages, own } = await imported({}, 'validate', 'pipelines/writing-observer.yaml');
    for (const p of heavy) expect(packages.has(p), `validate imported ${p}`).toBe(false);
    expect(own.sort()).toEqual(
      ['engine/cli/command.js', 'engine/cli/commands.js', 'engine/cli/main.js', 'engine/did-you-mean.js', 'engine/import-module.js', 'engine/paths.js', 'engine/vendor/bundled.js', 'engine/vendor/code-cache.js'],
    );
    // The same run as files (LOFLOW_CLI_BUNDLE=0) loads the compiler: so the bundle above is what ran.
    const files = await imported({ LOFLOW_CLI_BUNDLE: '0' }, 'validate', 'pipelines/writing-observer.yaml');
    expect(files.own).toContain('engine/compiler.js');
  });

  it('archive commands load no Redis, Postgres or server dependency (a Redis key store only when --keys names one)', async () => {
    const { packages, own } = await imported({}, 'archive', '--help');
    expect(own).toContain('engine/cli/archive-command.js');
    expect(packages.has('@ipld/car')).toBe(true); // the recorder saw the command's own dependencies
    for (const p of ['ioredis', 'pg', 'pg-pool', '@dbos-inc', '@hapi', 'ws', 'prom-client']) expect(packages.has(p), `archive imported ${p}`).toBe(false);
  });

  it('--help imports no command and no dependency', async () => {
    const { packages, own } = await imported({}, '--help');
    expect([...packages]).toEqual([]);
    expect(own.filter((f) => f.endsWith('-command.js'))).toEqual([]);
  });

  it("the table's summaries are the commands' own, and every entry loads its command", async () => {
    for (const entry of commands) {
      const command = await entry.load();
      expect(command.name).toBe(entry.name);
      expect(command.summary).toBe(entry.summary);
    }
  });

  it('a mistyped command: did you mean, exit 2', async () => {
    const r = await run('valdate', 'x.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^unknown command 'valdate': did you mean 'validate'\?/);
  });
});
