// Learner pseudonyms of encrypted archives (docs/scale-out.md §10.1): base32(HMAC-SHA256(Kp, id))[0..26].
// The same learner has the same pseudonym in every chunk, index and erasure record; without Kp it cannot be
// computed from an id (unlike a plain hash, ids cannot be guessed and checked).
import { createHmac } from 'node:crypto';
import type { KeyProvider } from './provider.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** The pseudonym of `id` under the pseudonym key `kp` (synchronous: the writer computes one per new learner). */
export function pseudonymOf(kp: Uint8Array, id: string): string {
  return base32(createHmac('sha256', kp).update(id, 'utf8').digest()).slice(0, 26);
}

export async function learnerPseudonym(provider: KeyProvider, id: string): Promise<string> {
  return pseudonymOf(await provider.pseudonymKey(), id);
}

/** A bounded id -> pseudonym cache (one HMAC per learner, not per event). */
export function pseudonymizer(kp: Uint8Array, limit = 100_000): (id: string) => string {
  const cache = new Map<string, string>();
  return (id) => {
    let p = cache.get(id);
    if (p === undefined) {
      p = pseudonymOf(kp, id);
      if (cache.size >= limit) cache.clear();
      cache.set(id, p);
    }
    return p;
  };
}
