// Crypto-shredding by key deletion: a learner's keys (every month), or the keys of months before a date.
import { checkKid, parseKid, type DekStore } from './dek-store.js';

/** Deletes every data key of the learner with this pseudonym; returns the deleted kids. */
export async function eraseLearnerKeys(store: DekStore, pseudonym: string): Promise<string[]> {
  if (!/^[a-z2-7]{26}$/.test(pseudonym)) throw new Error(`'${pseudonym.slice(0, 80)}' is not a learner pseudonym (26 base32 characters): pass learnerPseudonym(provider, id)`);
  return store.delete(await store.kids(`${pseudonym}:`));
}

export interface ExpireOptions {
  /** Keys of months before this one (YYYY-MM, exclusive) go. */
  before: string;
  /** learners: per-learner keys; other: keys of learner-less chains; all: both. */
  scope: 'learners' | 'other' | 'all';
}

/** Retention: deletes the keys of months before `before` in scope; returns the deleted kids. */
export async function expireKeys(store: DekStore, opts: ExpireOptions): Promise<string[]> {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(opts.before)) throw new Error(`expireKeys: before must be YYYY-MM, not '${opts.before}'`);
  if (!['learners', 'other', 'all'].includes(opts.scope)) throw new Error(`expireKeys: scope must be learners, other or all, not '${opts.scope}'`);
  const old = (await store.kids()).filter((kid) => {
    checkKid(kid);
    const k = parseKid(kid);
    const inScope = opts.scope === 'all' || (opts.scope === 'learners') === k.learner;
    return inScope && k.month < opts.before;
  });
  return store.delete(old);
}
