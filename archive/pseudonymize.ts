// De-identification for a study's export: learner ids replaced by HMAC-SHA256(key, id) (hex), so the same
// learner gets the same pseudonym across events and exports made with the same key, and named fields removed.
// The key comes from the environment and is never written anywhere.
import { createHmac } from 'node:crypto';
import type { LoEvent } from '../engine/types.js';
import { rewritePaths } from './learners.js';

export const PSEUDONYM_KEY_ENV = 'LOFLOW_PSEUDONYM_KEY';

/** The HMAC key from LOFLOW_PSEUDONYM_KEY; refuses a missing or short one (a guessable key re-identifies). */
export function pseudonymKey(env: NodeJS.ProcessEnv = process.env): Buffer {
  const key = env[PSEUDONYM_KEY_ENV];
  if (!key) throw new Error(`--pseudonymize needs a secret key in the environment variable ${PSEUDONYM_KEY_ENV} (it is never written to the archive); e.g. export ${PSEUDONYM_KEY_ENV}=$(openssl rand -hex 32)`);
  if (key.length < 16) throw new Error(`${PSEUDONYM_KEY_ENV} is too short (${key.length} characters): use at least 16, e.g. $(openssl rand -hex 32)`);
  return Buffer.from(key, 'utf8');
}

/** HMAC-SHA256(key, id) as lowercase hex. */
export function pseudonym(key: Buffer, id: string): string {
  return createHmac('sha256', key).update(id, 'utf8').digest('hex');
}

export interface Deidentify {
  /** JSON paths whose values become pseudonyms (strings and numbers as text; other values as their JSON). */
  idFields: string[];
  /** JSON paths removed. */
  dropFields: string[];
  key: Buffer | null;
}

/** A function that returns a de-identified copy of an event (the input is not changed). */
export function deidentifier(d: Deidentify): (e: LoEvent) => LoEvent {
  const cache = new Map<string, string>();
  const hmac = (v: unknown): unknown => {
    if (v === null || v === undefined) return v;
    const id = typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v);
    let p = cache.get(id);
    if (p === undefined) {
      p = pseudonym(d.key!, id);
      if (cache.size < 1_000_000) cache.set(id, p);
    }
    return p;
  };
  const rewrites: Array<readonly [string, ((v: unknown) => unknown) | null]> = [
    ...d.dropFields.map((f) => [f, null] as const),
    ...(d.key ? d.idFields.map((f) => [f, hmac] as const) : []),
  ];
  return (event) => rewritePaths(event, rewrites) as LoEvent;
}
