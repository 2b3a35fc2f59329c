// Files the compiler reads (pipelines, rosters, schemas, custom operators, test files) are named by the
// pipeline: a path like /dev/zero or a FIFO would make `validate` read (or wait) forever. So each is opened
// without blocking, must be a regular file (fstat on the open descriptor, not a racy stat of the path),
// and is read only up to a limit.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

const MiB = 1024 * 1024;

/** The limit from an environment variable in MiB (e.g. LOFLOW_MAX_ROSTER_MB=256), else the default. */
function limitFrom(env: string, defaultMiB: number): number {
  const v = Number(process.env[env]);
  return (Number.isFinite(v) && v > 0 ? v : defaultMiB) * MiB;
}

/** The byte limits, read at each use (tests and operators can set the variables). */
export const fileLimits = {
  roster: () => limitFrom('LOFLOW_MAX_ROSTER_MB', 64),
  /** Pipelines, test files, event schemas and custom operator modules. */
  source: () => limitFrom('LOFLOW_MAX_SOURCE_MB', 16),
};

const mib = (n: number) => (n >= MiB ? `${+(n / MiB).toFixed(2)} MiB` : `${Math.round(n)} bytes`);
const label = (what: string, file: string) => (what ? `${what} ${file}` : file);
const hint = (limit: number) =>
  limit === fileLimits.roster() ? ' (LOFLOW_MAX_ROSTER_MB raises it)' : limit === fileLimits.source() ? ' (LOFLOW_MAX_SOURCE_MB raises it)' : '';

/** Open a path and check it is a regular file of at most `limit` bytes; the descriptor and its size. */
function openRegular(file: string, limit: number, what: string): { fd: number; size: number } {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (for ever).
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isSocket() ? 'a socket' : 'not a regular file';
      throw new Error(`${label(what, file)} is ${kind}: it must be a regular file`);
    }
    if (st.size > limit) throw new Error(`${label(what, file)} is ${mib(st.size)}: over the ${mib(limit)} limit${hint(limit)}`);
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** A regular file's text, refused when it is something else or larger than `limit` bytes. */
export function readBoundedText(file: string, limit: number, what = ''): string {
  const { fd, size } = openRegular(file, limit, what);
  try {
    // Read until the end, but never more than limit + 1 bytes: a file that grows after the fstat is caught too.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(limit + 1 - total, Math.max(size + 1 - total, 64 * 1024)));
      const r = readSync(fd, buf, 0, buf.length, null);
      if (r === 0) break;
      chunks.push(buf.subarray(0, r));
      total += r;
      if (total > limit) throw new Error(`${label(what, file)} is over the ${mib(limit)} limit${hint(limit)}`);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Check a file before something else loads it (import() of a custom operator): regular and within `limit`. */
export function checkRegularFile(file: string, limit: number, what = ''): void {
  closeSync(openRegular(file, limit, what).fd);
}
