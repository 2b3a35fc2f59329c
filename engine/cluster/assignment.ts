// Which live worker runs each partition: rendezvous (highest random weight) hashing, docs/scale-out.md §5.1.
// Every worker computes the same table from the same member list, so no coordinator is needed. A worker
// leaving moves only its own partitions (each to the runner-up of its rows); one joining takes only the rows
// it now wins (about P/(n+1)): as few moves as possible.
import { createHash } from 'node:crypto';

/** The weight of (worker, partition): 48 bits of SHA-1, so ids that differ by one character spread well. */
export function weight(worker: string, partition: number): number {
  return createHash('sha1').update(`${worker}\u0000${partition}`).digest().readUIntBE(0, 6);
}

/** Per partition 0..count-1, the live worker with the highest weight (ties by id); [] when nobody is live. */
export function assign(workers: readonly string[], count: number): string[] {
  if (workers.length === 0) return [];
  const out: string[] = new Array(count);
  for (let n = 0; n < count; n++) {
    let best = '';
    let bestW = -1;
    for (const w of workers) {
      const x = weight(w, n);
      if (x > bestW || (x === bestW && w > best)) [best, bestW] = [w, x];
    }
    out[n] = best;
  }
  return out;
}
