// One writer per archive folder, and no gc while it writes: a writer's chunks are unreachable until its
// next commit, so a gc running then would delete them. The lock is a file holding the writer's pid.
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive as alive } from '../engine/process-alive.js';

/** The pid holding the folder's lock, when that process is still running. */
export function lockHolder(dir: string, name = 'LOCK'): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, name), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Lock files this process holds, with how many writers share each. */
const held = new Map<string, number>();

/**
 * Take the lock (a stale lock of a dead process is taken over). Throws when another live process holds it.
 * Re-entrant within one process (several writers of one process share it) unless `exclusive`.
 */
export function acquireLock(dir: string, opts: { exclusive?: boolean; name?: string } = {}): () => void {
  const file = join(dir, opts.name ?? 'LOCK');
  // gc: not even a writer of this process may be open (its uncommitted chunks would look like garbage).
  if (opts.exclusive && held.has(file)) throw new Error(`the archive ${dir} has a writer open in this process; close it first`);
  const release = () => {
    const n = (held.get(file) ?? 1) - 1;
    if (n > 0) return void held.set(file, n);
    held.delete(file);
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  if (held.has(file)) {
    held.set(file, held.get(file)! + 1);
    return once(release);
  }
  const holder = lockHolder(dir, opts.name);
  if (holder !== undefined && holder !== process.pid) {
    throw new Error(`the archive ${dir} is in use by process ${holder} (its LOCK file); stop it first`);
  }
  if (existsSync(file)) {
    // A dead process's stale lock (or our own leftover): removed. A live holder was refused above.
    try {
      unlinkSync(file);
    } catch {
      // gone meanwhile
    }
  }
  try {
    // 'wx': of two processes racing for a free lock, exactly one creates the file.
    writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new Error(`the archive ${dir} is in use by process ${lockHolder(dir, opts.name) ?? '?'} (its LOCK file); stop it first`);
  }
  held.set(file, 1);
  return once(release);
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) fn();
    done = true;
  };
}
