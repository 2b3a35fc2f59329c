// Issue #15.1: the command bundles run with V8's code cache (engine/vendor/code-cache.ts). The cache is
// written by the first run and used by the next; a damaged, foreign or unwritable cache changes nothing but
// speed: the output is the same as with no cache at all, and a changed file never runs its old code.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, root } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-code-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function node(args: string[], env: Record<string, string>): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', args, { cwd: root, env: { ...process.env, LOFLOW_DEBUG: '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err: any) {
    return { code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string };
  }
}

/** `loflow validate` of the demo pipeline, one with warnings and a broken one (errors, exit 1) in one run. */
const files = ['pipelines/writing-observer.yaml', 'test/fixtures/pipelines/partitioned-exchange.yaml', 'test/fixtures/pipelines/broken.yaml'];
const validate = (env: Record<string, string>) => node([bin, 'validate', ...files], env);
/** What the loader says it did with each cache (LOFLOW_DEBUG), e.g. ['used validate-command.cjs', ...]. */
const outcomes = (r: Run) => [...r.stderr.matchAll(/^loflow: code cache (\w+): .*\/([^/]+?)-[0-9a-f]{16}-/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
const sha256 = (...parts: (string | Buffer)[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const withoutDebug = (s: string) => s.replace(/^loflow: code cache .*\n/gm, '');

describe('code cache', () => {
  it('the first run writes it, the next uses it, and the output is the same as without it', async () => {
    const cache = join(dir, 'fresh');
    const plain = await validate({ LOFLOW_CODE_CACHE: '0' });
    expect(plain.code).toBe(1); // the broken pipeline's errors: the cache must not change them
    expect(plain.stderr).toMatch(/broken\.yaml:\d+:\d+: /);
    expect(plain.stdout).toMatch(/partitioned-exchange\.yaml: .*4 partitions by student/);
    const first = await validate({ LOFLOW_CACHE_DIR: cache, LOFLOW_DEBUG: '1' });
    expect(outcomes(first)).toEqual(['missing shipped.validate.cjs', 'missing validate-command.cjs']);
    expect(readdirSync(cache).filter((f) => f.endsWith('.v8cache'))).toHaveLength(2);
    const second = await validate({ LOFLOW_CACHE_DIR: cache, LOFLOW_DEBUG: '1' });
    expect(outcomes(second)).toEqual(['used shipped.validate.cjs', 'used validate-command.cjs']);
    for (const r of [first, second]) {
      expect(r.code).toBe(plain.code);
      expect(r.stdout).toBe(plain.stdout);
      expect(withoutDebug(r.stderr)).toBe(plain.stderr);
    }
  });

  it('a damaged cache file is not used (same output) and is written anew', async () => {
    const cache = join(dir, 'damaged');
    const plain = await validate({ LOFLOW_CODE_CACHE: '0' });
    await validate({ LOFLOW_CACHE_DIR: cache });
    const [a, b] = readdirSync(cache).map((f) => join(cache, f));
    writeFileSync(a, 'not a cache');
    const bytes = readFileSync(b);
    bytes[bytes.length >> 1] ^= 0xff; // one flipped byte inside V8's data: the checksum catches it
    writeFileSync(b, bytes);
    const damaged = await validate({ LOFLOW_CACHE_DIR: cache, LOFLOW_DEBUG: '1' });
    expect(outcomes(damaged)).toEqual(['invalid shipped.validate.cjs', 'invalid validate-command.cjs']);
    expect([damaged.code, damaged.stdout, withoutDebug(damaged.stderr)]).toEqual([plain.code, plain.stdout, plain.stderr]);
    const after = await validate({ LOFLOW_CACHE_DIR: cache, LOFLOW_DEBUG: '1' });
    expect(outcomes(after)).toEqual(['used shipped.validate.cjs', 'used validate-command.cjs']);
  });

  it('custom operators (.mjs, and .ts through tsx) load from a bundle run from the cache', async () => {
    // import() in code from V8's cache would fail in Node 20 (engine/import-module.ts): validate loads both.
    const own = join(dir, 'custom');
    mkdirSync(own);
    copyFileSync(join(root, 'pipelines/operators/longest-word.ts'), join(own, 'longest-word.ts'));
    writeFileSync(join(own, 'last-key.mjs'), "export default { name: 'last_key', summary: 'x', example: '', params: { type: 'object', additionalProperties: false }, init: () => null, reduce: (s, e) => e.key ?? s };\n");
    const pipeline = join(own, 'p.yaml');
    writeFileSync(pipeline, `pipeline: mine
sources:
  in: { kind: http, path: /in }
keys:
  user: $.user
reducers:
  longest: { from: [in], key: user, op: ./longest-word.ts }
  last: { from: [in], key: user, op: ./last-key.mjs, params: { bogus: 1 } }
`);
    const check = (env: Record<string, string>) => node([bin, 'validate', pipeline], env);
    const plain = await check({ LOFLOW_CODE_CACHE: '0' });
    expect(plain.stderr).toMatch(/^.*p\.yaml:\d+:\d+: .*bogus/); // the .mjs operator was loaded: its params schema speaks
    const cache = join(dir, 'custom-cache');
    for (const outcome of ['missing', 'used']) {
      const r = await check({ LOFLOW_CACHE_DIR: cache, LOFLOW_DEBUG: '1' });
      expect(outcomes(r)).toEqual([`${outcome} shipped.validate.cjs`, `${outcome} validate-command.cjs`]);
      expect([r.code, r.stdout, withoutDebug(r.stderr)]).toEqual([plain.code, plain.stdout, plain.stderr]);
    }
  });

  it('an unwritable cache folder: the same output, no cache', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const plain = await validate({ LOFLOW_CODE_CACHE: '0' });
    const r = await validate({ LOFLOW_CACHE_DIR: join(file, 'cache') }); // a folder under a file: mkdir fails
    expect([r.code, r.stdout, r.stderr]).toEqual([plain.code, plain.stdout, plain.stderr]);
  });

  it('a cache folder others can write to is not used: the same output', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const plain = await validate({ LOFLOW_CODE_CACHE: '0' });
    const r = await validate({ LOFLOW_CACHE_DIR: shared, LOFLOW_DEBUG: '1' });
    expect(r.stderr).toMatch(/^loflow: code cache unsafe .*, not used: /m);
    expect(readdirSync(shared)).toEqual([]);
    expect([r.code, r.stdout, r.stderr.replace(/^loflow: code cache unsafe .*\n/gm, '')]).toEqual([plain.code, plain.stdout, plain.stderr]);
  });

  it("is keyed on the file's content: an edit of the same length runs the new code; V8's refusal is a miss", async () => {
    const cache = join(dir, 'keyed');
    const load = (file: string) =>
      node(['--input-type=module', '-e', `const { requireCached } = await import(${JSON.stringify(join(root, 'dist/engine/vendor/code-cache.js'))}); const r = requireCached(${JSON.stringify(file)}, ${JSON.stringify(cache)}); console.log(r.cache, r.exports.answer());`], {});
    const mod = join(dir, 'module.cjs');
    writeFileSync(mod, 'exports.answer = () => "one";');
    expect((await load(mod)).stdout).toBe('missing one\n');
    expect((await load(mod)).stdout).toBe('used one\n');
    writeFileSync(mod, 'exports.answer = () => "two";'); // V8 itself checks only the source's length
    expect((await load(mod)).stdout).toBe('missing two\n');
    // A file that passes the checksum but holds V8 data for another source: V8 refuses it, the code runs.
    const other = join(dir, 'other.cjs');
    writeFileSync(other, 'exports.answer = () => "a longer answer";');
    expect((await load(other)).stdout).toBe('missing a longer answer\n');
    const source = readFileSync(mod, 'utf8');
    const key = `${sha256(source).toString('hex')}:${process.version}:${process.arch}`;
    const own = readdirSync(cache).find((f) => f.startsWith(`module.cjs-${key.slice(0, 16)}-`))!;
    const foreign = readFileSync(join(cache, readdirSync(cache).find((f) => f.startsWith('other.cjs-'))!)).subarray(32);
    writeFileSync(join(cache, own), Buffer.concat([sha256(key, foreign), foreign]));
    expect((await load(mod)).stdout).toBe('rejected two\n');
    expect((await load(mod)).stdout).toBe('used two\n');
    // Each edit leaves a cache file: the newest 4 of a module are kept.
    for (const n of ['3', '4', '5', '6']) {
      writeFileSync(mod, `exports.answer = () => "${n}";`);
      expect((await load(mod)).stdout).toBe(`missing ${n}\n`);
    }
    const left = readdirSync(cache).filter((f) => f.startsWith('module.cjs-'));
    expect(left).toHaveLength(4);
    expect(left.some((f) => f.startsWith(`module.cjs-${sha256('exports.answer = () => "6";').toString('hex').slice(0, 16)}-`))).toBe(true);
  });
});
