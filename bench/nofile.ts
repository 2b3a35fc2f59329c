// Raise the open-file limit for the bench's own child processes only (never the machine's): a command is run
// through bash, which raises its soft limit (to 65,536, or to the hard limit when that is lower and the
// process may not raise it) and then execs the command (same PID). 10,000 sockets need more than the usual
// 1,024 descriptors, on both ends.
import { readFileSync } from 'node:fs';

export const wantedNofile = 65_536;

/** argv for spawn: bash raising the limit, then exec of `argv`. */
export function withNofile(argv: string[], n = wantedNofile): string[] {
  return ['bash', '-c', `ulimit -n ${n} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, 'bash', ...argv];
}

/** The soft "Max open files" of a running process, from /proc (Linux); NaN elsewhere. */
export function openFileLimit(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    return Number(line?.split(/\s+/)[3]);
  } catch {
    return NaN;
  }
}
