// The byte path's rewriters of an export (deidentify-bytes.ts), built from plain data: the main thread and
// an export's rewrite thread (rewrite-thread.ts) make the same ones.
import { parsePath } from '../engine/jsonpath.js';
import { ByteIdSearch, BytesDeidentifier, pathTrie } from './deidentify-bytes.js';
import { learnerPaths } from './learners.js';
import type { Deidentify } from './pseudonymize.js';

export interface ByteRewriters {
  /** For source streams, and derived ones (their `key` pseudonymized too); null where the byte path cannot. */
  source: BytesDeidentifier | null;
  derived: BytesDeidentifier | null;
  /** The scratch writer's learner key path, and the research filter's learner paths, as keys. */
  keySegs: string[];
  idSegs: string[][];
}

/**
 * The byte path's rewriters, or null where it cannot reproduce the object path. `learners`: a research
 * export (filtered by learner); `ids`: the learner ids searched for in the result (null: no search).
 */
export function byteRewriters(text: string, d: Deidentify | undefined, learners: boolean, ids: Iterable<string> | null): ByteRewriters | null {
  const simple = (path: string): string[] | null => {
    try {
      const segs = parsePath(path);
      return segs.every((s) => typeof s === 'string') ? (segs as string[]) : null;
    } catch {
      return null;
    }
  };
  const paths = learnerPaths(text);
  const keySegs = simple(paths[0]);
  const idSegs = paths.map(simple);
  if (!keySegs || (learners && idSegs.some((s) => !s))) return null;
  const search = ids ? new ByteIdSearch(ids) : null;
  const drops = d?.dropFields ?? [];
  const hmacs = d?.key ? d.idFields : [];
  const make = (fields: string[]) => {
    const trie = pathTrie(drops, fields);
    return trie && new BytesDeidentifier(trie, d?.key ?? null, search);
  };
  return { source: make(hmacs), derived: make(d?.key ? [...hmacs, '$.key'] : hmacs), keySegs, idSegs: idSegs as string[][] };
}
