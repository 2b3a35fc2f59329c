// Run a CommonJS bundle (dist/cli-fast/*.cjs) with V8's code cache, as v8-compile-cache does for require():
// Node 20 compiles every module from source on every start (module.enableCompileCache is Node 22), and
// for `loflow validate` that compiling was a fifth of its CPU (issue #15.1). The cache holds the functions
// compiled by the end of a run (createCachedData after the command, not right after compiling, which would
// hold little more than the top level: an esbuild bundle's functions are compiled lazily, when first called).
//
// The cache can never change what runs: its file is named by the bundle's SHA-256 and the Node version and
// architecture, and starts with a SHA-256 over that key and the V8 data, so a stale, foreign or damaged file
// is not handed to V8 at all; V8 itself refuses data from another V8 or other flags (cachedDataRejected).
// Any failure to read or write it only means compiling from source, as without a cache. V8 data is code:
// a folder that another user can write to is not used at all.
// Not the v8-compile-cache package: a hook on every require() of the process, it takes the cache right
// after compiling, and code from its cache cannot import() (its issue #30).
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import vm from 'node:vm';
import { importModule } from '../import-module.js';

/** Old cache files kept per bundle (other loflow versions sharing the folder), newest first. */
const keep = 4;

/**
 * Where cache files go: $LOFLOW_CACHE_DIR, else the user's cache folder ($XDG_CACHE_HOME or ~/.cache) /loflow.
 * LOFLOW_CODE_CACHE=0 turns the cache off (compile from source, read and write nothing).
 */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LOFLOW_CODE_CACHE === '0') return undefined;
  if (env.LOFLOW_CACHE_DIR) return env.LOFLOW_CACHE_DIR;
  let home = '';
  try {
    home = homedir(); // throws when the user has no home (no $HOME, no passwd entry)
  } catch {
    /* no cache then */
  }
  const base = env.XDG_CACHE_HOME || (home && join(home, '.cache'));
  return base ? join(base, 'loflow') : undefined;
}

const sha256 = (...parts: (string | Uint8Array)[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();

/** What happened to the cache in this process, for the tests (LOFLOW_DEBUG prints it too). */
export type CacheOutcome = 'off' | 'unsafe' | 'used' | 'missing' | 'invalid' | 'rejected';

/**
 * Load `file` (a CommonJS module that requires only Node built-ins and packages, as the bundles do) and
 * return its exports. With a valid cache V8 skips compiling; without one, the process writes one at exit.
 */
export function requireCached(file: string, dir = codeCacheDir()): { exports: Record<string, unknown>; cache: CacheOutcome } {
  const unsafe = dir !== undefined && unsafeDir(dir);
  if (!dir || unsafe) {
    if (unsafe && process.env.LOFLOW_DEBUG) console.error(`loflow: code cache unsafe (not only yours to write), not used: ${dir}`);
    return { exports: createRequire(file)(file) as Record<string, unknown>, cache: unsafe ? 'unsafe' : 'off' };
  }
  const source = readFileSync(file, 'utf8');

  const key = `${sha256(source).toString('hex')}:${process.version}:${process.arch}`;
  const cacheFile = join(dir, `${basename(file)}-${key.slice(0, 16)}-${process.version}-${process.arch}.v8cache`);
  const cached = readValid(cacheFile, key);
  // `__loflowImport`: the import() the bundle's code uses (engine/import-module.ts says why): this module's,
  // which is Node's own from an ES module (or, in a bundle, the one lent to that bundle).
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __loflowImport) {${source}\n})`, {
    filename: file,
    cachedData: cached.data,
  });
  const cache: CacheOutcome = cached.data ? (script.cachedDataRejected ? 'rejected' : 'used') : cached.outcome;
  if (cache !== 'used') process.once('exit', () => write(dir, cacheFile, `${basename(file)}-`, key, script));
  if (process.env.LOFLOW_DEBUG) process.once('exit', () => console.error(`loflow: code cache ${cache}: ${cacheFile}`));
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file), importModule);
  return { exports: module.exports, cache };
}

/**
 * A cache folder someone else can write to: the checksum is no secret, so whoever can put a file there
 * could have this process run code of their own (V8 data is code). Not used; a missing folder is fine
 * (write makes it, for this user only).
 */
function unsafeDir(dir: string): boolean {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return false;
  }
  if (!st.isDirectory()) return true;
  return process.getuid !== undefined && (st.uid !== process.getuid() || (st.mode & 0o022) !== 0);
}

/** The V8 data in a cache file, if the file is there and its checksum matches this bundle and Node. */
function readValid(cacheFile: string, key: string): { data?: Buffer; outcome: CacheOutcome } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return { outcome: 'missing' };
  }
  const data = bytes.subarray(32);
  if (bytes.length <= 32 || !sha256(key, data).equals(bytes.subarray(0, 32))) return { outcome: 'invalid' };
  return { data, outcome: 'used' };
}

/** Write the cache atomically (another loflow may be reading it) and drop the oldest of this bundle's others. */
function write(dir: string, cacheFile: string, prefix: string, key: string, script: vm.Script): void {
  const tmp = `${cacheFile}.${randomUUID()}.tmp`; // not the pid: worker threads share it
  try {
    const data = script.createCachedData();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, Buffer.concat([sha256(key, data), data]));
    renameSync(tmp, cacheFile);
    const others = readdirSync(dir)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.v8cache') && join(dir, f) !== cacheFile)
      .map((f) => ({ f: join(dir, f), t: statSync(join(dir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const { f } of others.slice(keep - 1)) unlinkSync(f);
  } catch (err) {
    // A read-only or full disk: the next run compiles from source again, which is all a cache miss costs.
    try {
      unlinkSync(tmp);
    } catch {
      /* never written */
    }
    if (process.env.LOFLOW_DEBUG) console.error(`loflow: code cache not written: ${(err as Error).message}`);
  }
}
