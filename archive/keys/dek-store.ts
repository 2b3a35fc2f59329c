// Where wrapped data keys live (docs/scale-out.md §10.1). A data key (DEK) exists per learner per month
// (kid `<pseudonym>:<YYYY-MM>`) and per month for chains without a learner (`_other:<YYYY-MM>`, or
// `_p<N>:<YYYY-MM>` per partition). Deleting a kid crypto-shreds every chunk encrypted under it.

/** A data key as stored: wrapped by the KEK named `kek` (a KeyProvider's id). */
export interface WrappedDek {
  kek: string;
  wrapped: Uint8Array;
}

export interface DekStore {
  getWrapped(kid: string): Promise<WrappedDek | undefined>;
  /** Stores `wrapped` unless the kid has a key already; returns what is stored (the first writer wins). */
  putIfAbsent(kid: string, wrapped: WrappedDek): Promise<WrappedDek>;
  /** Deletes the kids' keys for good; returns the kids that had one. */
  delete(kids: string[]): Promise<string[]>;
  /** Every kid (starting with `prefix`), sorted. */
  kids(prefix?: string): Promise<string[]>;
  /** Makes keys stored so far durable (a commit linking chunks under them comes after). */
  sync?(): Promise<void>;
  close?(): Promise<void>;
}

const KID = /^(?:[a-z2-7]{26}|_other|_p\d{1,5}):\d{4}-(?:0[1-9]|1[0-2])$/;

/** Refuses anything but a well-formed kid (the file store uses kids as file names). */
export function checkKid(kid: string): string {
  if (typeof kid !== 'string' || !KID.test(kid)) throw new Error(`'${String(kid).slice(0, 80)}' is not a data key id (<pseudonym>:YYYY-MM, _other:YYYY-MM or _p<N>:YYYY-MM)`);
  return kid;
}

/** The UTC month of a time in ms: YYYY-MM. */
export function monthOf(ms: number): string {
  const d = new Date(Number.isFinite(ms) ? ms : 0);
  const y = d.getUTCFullYear();
  return `${String(Math.min(Math.max(y, 0), 9999)).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export const learnerKid = (pseudonym: string, month: string) => `${pseudonym}:${month}`;
/** Chains without a learner (one partition: `_other`; partition N of a partitioned archive: `_p<N>`). */
export const otherKid = (month: string, partition?: number) => `${partition === undefined ? '_other' : `_p${partition}`}:${month}`;

export function parseKid(kid: string): { owner: string; month: string; learner: boolean } {
  const i = kid.lastIndexOf(':');
  const owner = kid.slice(0, i);
  return { owner, month: kid.slice(i + 1), learner: !owner.startsWith('_') };
}

/** JSON form of a wrapped key (file and Redis stores). */
export const encodeWrapped = (kid: string, w: WrappedDek) => JSON.stringify({ kid, kek: w.kek, wrapped: Buffer.from(w.wrapped).toString('base64') });

export function decodeWrapped(text: string): WrappedDek | undefined {
  try {
    const v = JSON.parse(text) as { kek?: unknown; wrapped?: unknown };
    if (typeof v.kek !== 'string' || typeof v.wrapped !== 'string') return undefined;
    const wrapped = Buffer.from(v.wrapped, 'base64');
    return wrapped.length > 0 ? { kek: v.kek, wrapped: new Uint8Array(wrapped) } : undefined;
  } catch {
    return undefined;
  }
}
